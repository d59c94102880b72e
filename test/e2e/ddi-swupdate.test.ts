import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CampaignWorld, type TestDevice } from './campaign-fixture.js';

/*
 * The real hawkBit client: Debian's SWUpdate (suricatta, hawkBit server) against a spawned
 * service's DDI API. Each scenario builds a signed .swu in the test (sw-description signed with
 * CMS by openssl, as Debian's build of SWUpdate verifies them; an image installed into a FILE
 * with the `raw` handler), uploads it as a release described by a signed SUIT manifest (the CLI,
 * as an operator does), assigns it, and runs `swupdate -u …` until the action shows the outcome.
 */
const SWUPDATE = '/usr/bin/swupdate';
const OPENSSL = '/usr/bin/openssl';
const unavailable = !existsSync(SWUPDATE)
  ? `${SWUPDATE} is missing (apt-get install swupdate)`
  : !existsSync(OPENSSL)
    ? `${OPENSSL} is missing`
    : null;
if (unavailable && !process.env.CI) console.warn(`DDI SWUpdate e2e skipped: ${unavailable}`);

const run = promisify(execFile);

/** A cpio archive in the `crc` (070702) format SWUpdate reads, entries in the given order. */
function cpio(entries: ReadonlyArray<readonly [string, Buffer]>): Buffer {
  const parts: Buffer[] = [];
  const pad = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const all = [...entries, ['TRAILER!!!', Buffer.alloc(0)] as const];
  all.forEach(([name, data], i) => {
    let check = 0;
    for (const b of data) check = (check + b) >>> 0;
    const nameBytes = Buffer.from(`${name}\0`);
    const fields = [
      i === all.length - 1 ? 0 : i + 1,
      0o100644,
      0,
      0,
      1,
      0,
      data.length,
      0,
      0,
      0,
      0,
    ];
    const hex = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');
    const head = Buffer.from(
      `070702${fields.map(hex).join('')}${hex(nameBytes.length)}${hex(check)}`,
    );
    parts.push(head, nameBytes, pad(head.length + nameBytes.length), data, pad(data.length));
  });
  return Buffer.concat(parts);
}

interface Exchange {
  readonly requests: string[];
  cutArtifactAfter: number | null;
}

/**
 * A TCP proxy in front of the service that logs every request line with its Range header and
 * can cut the first artifact download after some bytes (a dropped connection mid-download).
 */
async function startProxy(
  target: URL,
  exchange: Exchange,
): Promise<{ port: number; server: Server }> {
  const server = createServer((client: Socket) => {
    const upstream = connect(Number(target.port), target.hostname);
    let cutting = false;
    let sent = 0;
    client.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      const line = /^(GET|HEAD|POST|PUT) (\S+)/m.exec(text);
      if (line) {
        const range = /^range: *(.+?)\r$/im.exec(text);
        exchange.requests.push(`${line[1]} ${line[2]}${range ? ` range=${range[1]}` : ''}`);
        if (
          line[1] === 'GET' &&
          line[2]!.includes('/artifacts/') &&
          exchange.cutArtifactAfter !== null
        ) {
          cutting = true;
        }
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (cutting && exchange.cutArtifactAfter !== null) {
        sent += chunk.length;
        if (sent > exchange.cutArtifactAfter) {
          exchange.cutArtifactAfter = null;
          client.write(chunk.subarray(0, chunk.length - (sent - exchange.cutArtifactAfter!)));
          client.destroy();
          upstream.destroy();
          return;
        }
      }
      client.write(chunk);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server };
}

interface ActionView {
  id: string;
  state: string;
  events: Array<{ status: string; code: string | null; message: string | null; source: string }>;
}

describe.skipIf(unavailable !== null && !process.env.CI)(
  'SWUpdate suricatta against the hawkBit DDI API',
  { timeout: 240_000 },
  () => {
    let world: CampaignWorld;
    let proxy: { port: number; server: Server };
    const exchange: Exchange = { requests: [], cutArtifactAfter: null };
    let seq = 10;
    const children: ChildProcess[] = [];

    beforeAll(async () => {
      if (unavailable) throw new Error(`DDI SWUpdate e2e cannot run: ${unavailable}`);
      world = await CampaignWorld.start({ dialect: 'sqlite' });
      await run(OPENSSL, [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '2',
        '-keyout',
        join(world.dir, 'swu-signer.key'),
        '-out',
        join(world.dir, 'swu-signer.crt'),
        '-subj',
        '/CN=updraft-swu-signer',
        '-addext',
        'extendedKeyUsage=emailProtection',
        '-addext',
        'keyUsage=digitalSignature',
      ]);
      proxy = await startProxy(new URL(world.url), exchange);
    });
    afterAll(async () => {
      for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
      proxy?.server.close();
      await world?.close();
    });

    /** A signed .swu whose `image.bin` the raw handler writes into `target`. */
    const makeSwu = async (name: string, image: Buffer, target: string, sha256?: string) => {
      const description = [
        'software =',
        '{',
        `\tversion = "2.0.${seq}";`,
        '\thardware-compatibility: [ "1.0" ];',
        '\timages: (',
        '\t\t{',
        '\t\t\tfilename = "image.bin";',
        '\t\t\ttype = "raw";',
        `\t\t\tdevice = "${target}";`,
        `\t\t\tsha256 = "${sha256 ?? createHash('sha256').update(image).digest('hex')}";`,
        '\t\t}',
        '\t);',
        '}',
        '',
      ].join('\n');
      const descPath = join(world.dir, `${name}.sw-description`);
      await writeFile(descPath, description);
      await run(OPENSSL, [
        'cms',
        '-sign',
        '-in',
        descPath,
        '-out',
        `${descPath}.sig`,
        '-signer',
        join(world.dir, 'swu-signer.crt'),
        '-inkey',
        join(world.dir, 'swu-signer.key'),
        '-outform',
        'DER',
        '-nosmimecap',
        '-binary',
      ]);
      const swu = cpio([
        ['sw-description', Buffer.from(description)],
        ['sw-description.sig', await readFile(`${descPath}.sig`)],
        ['image.bin', image],
      ]);
      await writeFile(join(world.dir, `${name}.swu`), swu);
      await writeFile(target, Buffer.alloc(0));
      return `${name}.swu`;
    };

    /** Uploads `swu` as a release of class `sensor`, described by a signed SUIT manifest. */
    const release = async (swu: string) => {
      seq += 1;
      await writeFile(
        join(world.dir, `${swu}.yaml`),
        [
          'vendor: example.com',
          'class: sim-mcu',
          `version: 2.0.${seq}`,
          `sequenceNumber: ${seq}`,
          'components:',
          '  - id: ["00"]',
          `    image: ${swu}`,
          '',
        ].join('\n'),
      );
      await world.ok(['manifest', 'create', `${swu}.yaml`, '--out', `${swu}.suit`]);
      await world.ok(['manifest', 'sign', `${swu}.suit`, '--key', 'release.key']);
      const uploaded = await world.ok<{ release: { id: string } }>([
        'release',
        'upload',
        `${swu}.suit`,
        '--class',
        'sensor',
        '--payload',
        swu,
      ]);
      return uploaded.release.id;
    };

    let deviceCount = 0;
    const device = async (attributes: Record<string, string> = {}): Promise<TestDevice> => {
      deviceCount += 1;
      const [d] = await world.addDevices(1, attributes, `tokens-${deviceCount}.txt`);
      return d!;
    };
    const assign = (d: TestDevice, releaseId: string) =>
      world.api<{ id: string }>('POST', '/api/v1/actions', {
        deviceId: d.id,
        releaseId,
        type: 'forced',
      });
    const action = (id: string) => world.api<ActionView>('GET', `/api/v1/actions/${id}`);

    /** Runs SWUpdate's suricatta for `d` through the proxy; `confirm` is `-c`. */
    const swupdate = (d: TestDevice, extra: string[] = []) => {
      const suricatta = [
        '-t',
        'DEFAULT',
        '-u',
        `127.0.0.1:${proxy.port}`,
        '-i',
        d.name,
        '-k',
        d.token,
        '-p',
        '1',
        '-w',
        '1',
        ...extra,
      ];
      const child = spawn(
        SWUPDATE,
        [
          '-v',
          '-H',
          'test:1.0',
          '-k',
          join(world.dir, 'swu-signer.crt'),
          '-u',
          suricatta.join(' '),
        ],
        {
          cwd: world.dir,
          env: { ...process.env, TMPDIR: world.dir },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      children.push(child);
      let out = '';
      child.stdout?.on('data', (c: Buffer) => {
        out += c.toString();
      });
      child.stderr?.on('data', (c: Buffer) => {
        out += c.toString();
      });
      const stop = async () => {
        if (child.exitCode !== null) return;
        child.kill('SIGTERM');
        await new Promise((r) => setTimeout(r, 300));
        if (child.exitCode === null) child.kill('SIGKILL');
        await new Promise((r) => setTimeout(r, 100));
      };
      return { child, output: () => out, stop };
    };

    const until = async <T>(
      what: string,
      probe: () => Promise<T | undefined>,
      ms = 60_000,
      log = () => '',
    ) => {
      const deadline = Date.now() + ms;
      for (;;) {
        const v = await probe();
        if (v !== undefined) return v;
        if (Date.now() > deadline)
          throw new Error(`timed out waiting for ${what}\n${log().slice(-4000)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    };

    it('installs a signed .swu from a campaign into a file and reports success after the restart with -c 2', async () => {
      const image = randomBytes(200_000);
      const target = join(world.dir, 'ok-target.img');
      const releaseId = await release(await makeSwu('ok', image, target));
      const d = await device({ client: 'swupdate' });
      await world.ok(['campaign', 'settings', '--approval-required', 'false']);
      const campaign = await world.ok<{ id: string }>([
        'campaign',
        'create',
        '--name',
        'swupdate fleet',
        '--release',
        releaseId,
        '--filter',
        'device.attributes.client == "swupdate"',
        '--action',
        'forced',
      ]);
      await world.ok(['campaign', 'start', campaign.id]);
      // The engine (tick 1 s) opens the device's action.
      const { id } = await until('the campaign action', async () => {
        const { items } = await world.api<{ items: Array<{ id: string }> }>(
          'GET',
          `/api/v1/devices/${d.id}/actions`,
        );
        return items[0];
      });
      const first = swupdate(d);
      // SWUpdate reports "All Chunks Installed." (proceeding) and waits for a restart to confirm.
      await until(
        'the image on disk',
        async () => ((await readFile(target)).equals(image) ? true : undefined),
        60_000,
        first.output,
      );
      await until(
        'the installed report',
        async () => {
          const a = await action(id);
          return a.events.some((e) => e.message?.includes('All Chunks Installed')) ? a : undefined;
        },
        30_000,
        first.output,
      );
      await first.stop();
      expect((await action(id)).state).not.toBe('success');
      const second = swupdate(d, ['-c', '2']);
      const done = await until(
        'success',
        async () => {
          const a = await action(id);
          return a.state === 'success' ? a : undefined;
        },
        30_000,
        second.output,
      );
      await second.stop();
      expect(done.events.map((e) => e.status)).toEqual(
        expect.arrayContaining(['assigned', 'downloading', 'downloaded', 'installing', 'success']),
      );
      expect(done.events.at(-1)).toMatchObject({ status: 'success', source: 'device' });
      expect((await readFile(target)).equals(image)).toBe(true);
      // The campaign counts the DDI device like any other (succeeded, or soaking first).
      const status = await until('the campaign to count it', async () => {
        const doc = await world.status(campaign.id);
        return (doc.totals.succeeded ?? 0) + (doc.totals.soaking ?? 0) >= 1 ? doc : undefined;
      });
      expect(status.totals.failed ?? 0).toBe(0);
    });

    it('resumes an interrupted download with a Range request', async () => {
      const image = randomBytes(3_000_000);
      const target = join(world.dir, 'resume-target.img');
      const releaseId = await release(await makeSwu('resume', image, target));
      const d = await device();
      const { id } = await assign(d, releaseId);
      exchange.requests.length = 0;
      exchange.cutArtifactAfter = 600_000;
      const sw = swupdate(d);
      await until(
        'success of the install',
        async () => {
          const a = await action(id);
          return a.events.some((e) => e.message?.includes('All Chunks Installed')) ? a : undefined;
        },
        90_000,
        () => `${sw.output()}\n${exchange.requests.join('\n')}`,
      );
      await sw.stop();
      const downloads = exchange.requests.filter(
        (r) => r.startsWith('GET') && r.includes('/artifacts/'),
      );
      expect(downloads.length).toBeGreaterThanOrEqual(2);
      expect(downloads.slice(1).some((r) => /range=bytes=\d+-/.test(r))).toBe(true);
      expect((await readFile(target)).equals(image)).toBe(true);
    });

    it('acknowledges a cancel: the action ends canceled', async () => {
      const target = join(world.dir, 'cancel-target.img');
      const releaseId = await release(await makeSwu('cancel', randomBytes(10_000), target));
      const d = await device();
      const { id } = await assign(d, releaseId);
      await world.api('POST', `/api/v1/actions/${id}/cancel`, {});
      const sw = swupdate(d);
      const done = await until(
        'canceled',
        async () => {
          const a = await action(id);
          return a.state === 'canceled' ? a : undefined;
        },
        30_000,
        sw.output,
      );
      await sw.stop();
      expect(done.events.map((e) => e.status)).toEqual([
        'assigned',
        'cancel_requested',
        'canceled',
      ]);
      expect((await readFile(target)).length).toBe(0);
    });

    it('reports a failed install (wrong sha256 in sw-description) as a failure with its details', async () => {
      const target = join(world.dir, 'bad-target.img');
      const releaseId = await release(
        await makeSwu('bad', randomBytes(50_000), target, 'ab'.repeat(32)),
      );
      const d = await device();
      const { id } = await assign(d, releaseId);
      const sw = swupdate(d);
      const done = await until(
        'failure',
        async () => {
          const a = await action(id);
          return a.state === 'failure' ? a : undefined;
        },
        60_000,
        sw.output,
      );
      await sw.stop();
      const last = done.events.at(-1)!;
      expect(last).toMatchObject({ status: 'failure', code: 'DDI_FAILURE', source: 'device' });
      // SWUpdate closes with its summary; the installer's own errors came with its log before.
      expect(last.message).toBe('No suitable .swu image found');
      const log = done.events.map((e) => e.message ?? '').join('\n');
      expect(log).toContain(`HASH mismatch : ${'ab'.repeat(32)}`);
      expect(log).not.toContain('HTTP error code 400');
    });
  },
);
