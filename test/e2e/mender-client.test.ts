import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { componentIdFromHex, createEnvelope, createKeySigner, signEnvelope } from '@updraft/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SpawnedService, startService } from './service-fixture.js';

// Debian's mender-client 3.4 (a Go program nobody here wrote) in daemon mode against the spawned
// service over TLS (pinning the service's CA with ServerCertificate): it authenticates with its own key (X-MEN-Signature), polls deployments/next, downloads
// the .mender artifact written by mender-artifact through the signed URL, installs it with the
// `single-file` update module and reports statuses; a failing install is reported as failure
// with its deployment log.
//
// mender-client 3.4 reads three things from fixed system paths that no flag or config moves:
// the identity script (/usr/share/mender/identity/mender-device-identity — Debian's package
// leaves that directory empty), the update modules (/usr/share/mender/modules/v3) and, before
// its first install, the current artifact name (/etc/mender/artifact_info). Everything else
// (config, state, key, device_type, module work dirs) lives in this test's temp directory. The
// test therefore runs as root (as CI does): it writes the identity script and artifact_info only
// when they are absent and removes what it wrote. The failing update module is the stock
// `single-file` one given a destination it cannot create (a custom module would have to be
// installed into /usr/share/mender/modules/v3 too).

const MENDER = '/usr/bin/mender';
const MENDER_ARTIFACT = '/usr/bin/mender-artifact';
const IDENTITY_SCRIPT = '/usr/share/mender/identity/mender-device-identity';
const ARTIFACT_INFO = '/etc/mender/artifact_info';
const DEVICE_TYPE = 'updraft-test-board';

function unavailableReason(): string | null {
  for (const bin of [MENDER, MENDER_ARTIFACT])
    if (!existsSync(bin))
      return `${bin} is not installed (apt-get install mender-client mender-artifact)`;
  if (process.getuid?.() !== 0 && (!existsSync(IDENTITY_SCRIPT) || !existsSync(ARTIFACT_INFO)))
    return `mender-client needs ${IDENTITY_SCRIPT} and ${ARTIFACT_INFO}; writing them needs root`;
  return null;
}
const unavailable = unavailableReason();
if (unavailable && !process.env.CI) console.warn(`mender-client e2e skipped: ${unavailable}`);

const vendorId = randomUUID();
const classId = randomUUID();
const releaseKey = generateKeyPairSync('ed25519');
const mac = `02:00:${randomBytes(4).toString('hex').match(/../g)!.join(':')}`;

let dir: string;
let service: SpawnedService;
let daemon: ChildProcess | undefined;
let daemonOut = '';
const wrote: string[] = [];

const api = <T = Record<string, unknown>>(method: string, path: string, body?: unknown) =>
  service.api<T>(method, path, body);

/** A `single-file` artifact (mender-artifact's module-image) installing `content` as dest/name. */
async function writeArtifact(
  name: string,
  destDir: string,
  fileName: string,
  content: string,
): Promise<Buffer> {
  const work = await mkdtemp(join(dir, 'artifact-'));
  await writeFile(join(work, 'dest_dir'), destDir);
  await writeFile(join(work, 'filename'), fileName);
  await writeFile(join(work, fileName), content);
  const out = join(work, `${name}.mender`);
  execFileSync(
    MENDER_ARTIFACT,
    [
      'write',
      'module-image',
      '-T',
      'single-file',
      '-n',
      name,
      '-t',
      DEVICE_TYPE,
      '-o',
      out,
      '-f',
      join(work, 'dest_dir'),
      '-f',
      join(work, 'filename'),
      '-f',
      join(work, fileName),
    ],
    { stdio: 'pipe' },
  );
  return readFile(out);
}

/** Uploads `artifact` as a release whose signed SUIT envelope describes it. */
async function release(
  deviceClassId: string,
  seq: number,
  version: string,
  artifact: Buffer,
): Promise<string> {
  const unsigned = createEnvelope({
    vendorId,
    classId,
    sequenceNumber: seq,
    components: [
      {
        id: '814100',
        digest: new Uint8Array(createHash('sha256').update(artifact).digest()),
        size: artifact.length,
        uri: `https://fw.example/${version}.mender`,
      },
    ],
    text: {
      en: {
        fields: { updateDescription: `mender ${version}` },
        components: [{ id: componentIdFromHex('814100'), fields: { componentVersion: version } }],
      },
    },
  });
  const envelope = await signEnvelope(unsigned, createKeySigner(releaseKey.privateKey));
  return (
    await api<{ id: string }>('POST', '/api/v1/releases', {
      deviceClassId,
      envelope: Buffer.from(envelope).toString('base64'),
      payloads: [{ data: artifact.toString('base64'), fileName: `${version}.mender` }],
    })
  ).id;
}

type History = {
  state: string;
  events: { status: string; code: string | null; message: string | null }[];
};

async function waitForState(actionId: string, states: string[], ms: number): Promise<History> {
  const until = Date.now() + ms;
  for (;;) {
    const h = await api<History>('GET', `/api/v1/actions/${actionId}`);
    if (states.includes(h.state)) return h;
    if (Date.now() > until)
      throw new Error(
        `action ${actionId} stayed ${h.state} (${JSON.stringify(h.events)}); mender said:\n${daemonOut.slice(-6000)}`,
      );
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function writeIfAbsent(path: string, content: string, mode: number): Promise<void> {
  if (existsSync(path)) return;
  await writeFile(path, content, { mode });
  wrote.push(path);
}

describe.skipIf(unavailable !== null && !process.env.CI)(
  'mender-client 3.4 against Updraft',
  () => {
    let deviceClassId: string;
    let deviceId: string;
    let deviceName: string;
    let data: string;

    beforeAll(async () => {
      // In CI a missing mender-client is a failure, not a skip.
      expect(unavailable).toBeNull();
      dir = await mkdtemp(join(tmpdir(), 'updraft-e2e-mender-'));
      await writeIfAbsent(
        IDENTITY_SCRIPT,
        '#!/bin/sh\n# written by Updraft\'s mender-client e2e test\necho "mac=$UPDRAFT_MENDER_MAC"\n',
        0o755,
      );
      await writeIfAbsent(ARTIFACT_INFO, 'artifact_name=factory-image\n', 0o644);
      // Over TLS, as a real deployment runs: mender-client pins the service's CA (ServerCertificate).
      service = await startService({ UPDRAFT_TLS: 'true' });
      expect(service.base).toMatch(/^https:/);
      deviceClassId = (
        await api<{ id: string }>('POST', '/api/v1/device-classes', {
          name: 'mender-boards',
          vendorId,
          classId,
        })
      ).id;
      await api('POST', `/api/v1/device-classes/${deviceClassId}/keys`, {
        format: 'pem',
        key: releaseKey.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      });
      // The device's key, made here so the operator can pre-authorise it (ECDSA P-256).
      const deviceKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      data = join(dir, 'mender-data');
      await mkdir(data, { recursive: true });
      await writeFile(
        join(data, 'mender-agent.pem'),
        deviceKey.privateKey.export({ format: 'pem', type: 'sec1' }),
        { mode: 0o600 },
      );
      await writeFile(join(data, 'device_type'), `device_type=${DEVICE_TYPE}\n`);
      const pre = await api<{ deviceId: string; deviceName: string; status: string }>(
        'POST',
        '/api/v1/mender/auth-sets',
        {
          idData: JSON.stringify({ mac }),
          pubkey: deviceKey.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
          deviceClass: deviceClassId,
        },
      );
      expect(pre.status).toBe('preauthorized');
      deviceId = pre.deviceId;
      deviceName = pre.deviceName;
    }, 120_000);

    afterAll(async () => {
      if (daemon && daemon.exitCode === null) {
        daemon.kill('SIGTERM');
        await new Promise((r) => setTimeout(r, 300));
        if (daemon.exitCode === null) daemon.kill('SIGKILL');
      }
      await service?.close();
      for (const path of wrote) await rm(path, { force: true });
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('installs a single-file artifact through a campaign and reports success; a failing install is reported with its log', async () => {
      const dest = join(dir, 'installed');
      const content = `hello from updraft ${randomUUID()}\n`;
      const good = await writeArtifact('2.0.0', dest, 'app.conf', content);
      const goodRelease = await release(deviceClassId, 2, '2.0.0', good);
      // The first update goes out as a campaign (targeting the Mender device by name), the
      // second as a hand-assigned action: both are plain Updraft actions to the Mender API.
      await api('PUT', '/api/v1/campaign-settings', { approvalRequired: false });
      const campaign = await api<{ id: string }>('POST', '/api/v1/campaigns', {
        name: 'mender rollout',
        releaseId: goodRelease,
        filter: `device.name == "${deviceName}"`,
      });
      await api('POST', `/api/v1/campaigns/${campaign.id}/start`, {});

      const config = join(dir, 'mender.conf');
      await writeFile(
        config,
        JSON.stringify({
          ServerURL: service.base,
          ServerCertificate: join(service.dataDir, 'pki', 'ca.pem'),
          UpdatePollIntervalSeconds: 5,
          InventoryPollIntervalSeconds: 5,
          RetryPollIntervalSeconds: 2,
          DeviceTypeFile: join(data, 'device_type'),
          DBus: { Enabled: false },
        }),
      );
      daemon = spawn(
        MENDER,
        [
          '--config',
          config,
          '--fallback-config',
          join(dir, 'none.conf'),
          '--data',
          data,
          '--no-syslog',
          '--log-level',
          'debug',
          'daemon',
        ],
        { env: { ...process.env, UPDRAFT_MENDER_MAC: mac }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      daemon.stdout?.on('data', (c: Buffer) => {
        daemonOut += c.toString();
      });
      daemon.stderr?.on('data', (c: Buffer) => {
        daemonOut += c.toString();
      });

      let first: string | null = null;
      for (const until = Date.now() + 60_000; first === null && Date.now() < until; ) {
        const targets = await api<{ items: { actionId: string | null }[] }>(
          'GET',
          `/api/v1/campaigns/${campaign.id}/targets`,
        );
        first = targets.items[0]?.actionId ?? null;
        if (first === null) await new Promise((r) => setTimeout(r, 500));
      }
      expect(first, 'the campaign assigned no action').not.toBeNull();
      let h = await waitForState(first as string, ['success', 'failure'], 150_000);
      expect(h.state, daemonOut.slice(-4000)).toBe('success');
      expect(await readFile(join(dest, 'app.conf'), 'utf8')).toBe(content);
      expect(h.events.map((e) => e.status)).toContain('installing');
      const targets = await api<{ items: { status: string }[] }>(
        'GET',
        `/api/v1/campaigns/${campaign.id}/targets`,
      );
      expect(targets.items.map((t) => t.status)).toEqual(['succeeded']);

      // The auth set is accepted now; the inventory reached the device's reported attributes.
      const sets = await api<{ items: { deviceId: string; status: string }[] }>(
        'GET',
        '/api/v1/mender/auth-sets',
      );
      expect(sets.items.find((s) => s.deviceId === deviceId)?.status).toBe('accepted');

      // A destination the single-file module cannot create: its ArtifactInstall exits 1.
      const bad = await writeArtifact('2.0.1', '/dev/null/updraft', 'app.conf', 'never\n');
      const badRelease = await release(deviceClassId, 3, '2.0.1', bad);
      const second = (
        await api<{ id: string }>('POST', '/api/v1/actions', { deviceId, releaseId: badRelease })
      ).id;
      h = await waitForState(second, ['success', 'failure'], 150_000);
      expect(h.state).toBe('failure');
      expect(h.events.find((e) => e.code === 'MENDER_FAILURE')).toBeDefined();
      // The deployment log follows the failure report.
      const until = Date.now() + 60_000;
      let log: History['events'][number] | undefined;
      while (log === undefined && Date.now() < until) {
        h = await api<History>('GET', `/api/v1/actions/${second}`);
        log = h.events.find((e) => e.code === 'MENDER_DEPLOYMENT_LOG');
        if (log === undefined) await new Promise((r) => setTimeout(r, 500));
      }
      // single-file's own stderr (mkdir refused), as mender-client forwarded it.
      expect(log?.message, daemonOut.slice(-4000)).toMatch(/Not a directory/);

      const device = await api<{ attributes: { reported: Record<string, unknown> } }>(
        'GET',
        `/api/v1/devices/${deviceId}`,
      );
      expect(device.attributes.reported.device_type).toBe(DEVICE_TYPE);
    }, 400_000);
  },
);
