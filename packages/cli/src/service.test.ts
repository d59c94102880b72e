import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { encodeCoseKey, importPem, keyObjectToCoseKey } from '@updraft/core';
import type { RunningServer } from '@updraft/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uploadStatePath } from './commands/release-upload.js';
import { EXIT_CODES } from './exit-codes.js';
import { type RunResult, run, tempDir } from './testing/capture-io.js';
import { startTestService } from './testing/test-service.js';

// The service commands against a real update service listening on 127.0.0.1, port 0.
const PASSWORD = 'correct horse battery staple';
let server: RunningServer;
let dir: string;
let cleanup: () => Promise<void>;
let config: string;
const image = randomBytes(2 * 1024 * 1024 + 12_345);

async function cli(argv: string[], options: { stdin?: string } = {}): Promise<RunResult> {
  return run(dir, [...argv, '--config', config], options);
}

function expectError(r: RunResult, exitCode: number, code: string): void {
  expect(r.code, r.stderr).toBe(exitCode);
  expect(r.stderr).toMatch(new RegExp(`^updraft: .*\\[${code}\\]\\n$`));
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  config = join(dir, 'cli', 'config.json');
  server = await startTestService({ dir, adminPassword: PASSWORD });
  await writeFile(join(dir, 'app.bin'), image);
  await writeFile(
    join(dir, 'release.yaml'),
    'vendor: example.com\nclass: thermostat-v2\nversion: 1.3.0\ncomponents: [{ image: app.bin, uri: "https://fw.example.com/app.bin" }]\n',
  );
  await run(dir, ['keys', 'generate', '--alg', 'ed25519', '--out', 'release']);
  await run(dir, ['keys', 'generate', '--alg', 'es256', '--out', 'rogue']);
  await run(dir, ['manifest', 'create', 'release.yaml', '--out', 'app.suit']);
  await run(dir, ['manifest', 'sign', 'app.suit', '--key', 'release.key']);
  await run(dir, ['manifest', 'create', 'release.yaml', '--out', 'rogue.suit']);
  await run(dir, ['manifest', 'sign', 'rogue.suit', '--key', 'rogue.key']);
}, 120_000);

afterAll(async () => {
  await server?.close();
  await cleanup?.();
});

describe('service commands', () => {
  it('refuses to work before login, and refuses a wrong password', async () => {
    expectError(await cli(['class', 'list']), EXIT_CODES.service, 'CLI_NOT_LOGGED_IN');
    const wrong = await cli(['login', '--server', server.url, '--password-stdin', '--json'], {
      stdin: 'nope\n',
    });
    expect(wrong.code).toBe(EXIT_CODES.service);
    expect(wrong.json()).toMatchObject({
      error: { code: 'AUTH_INVALID_CREDENTIALS', details: { status: 401 } },
    });
    await expect(stat(config)).rejects.toThrow();
  });

  it('logs in and stores the token in a 0600 config file', async () => {
    const r = await cli(['login', '--server', server.url, '--password-stdin'], {
      stdin: `${PASSWORD}\n`,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^logged in to http:\/\/127\.0\.0\.1:\d+ as admin/);
    expect(r.stderr).toBe('');
    expect((await stat(config)).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(await readFile(config, 'utf8'));
    expect(stored).toMatchObject({ server: server.url, username: 'admin' });
    expect(stored.token.length).toBeGreaterThan(16);
    expect(r.stdout).not.toContain(stored.token);
  });

  let classId: string;
  let releaseId: string;
  let deviceId: string;

  it('creates a device class with a trusted key', async () => {
    const created = await cli([
      'class',
      'create',
      'thermostats',
      '--vendor',
      'example.com',
      '--model',
      'thermostat-v2',
      '--json',
    ]);
    expect(created.code, created.stderr).toBe(0);
    classId = created.json<{ id: string }>().id;
    // The ids are the ones manifest create derived from the same names.
    const inspect = (await run(dir, ['manifest', 'inspect', 'app.suit', '--json'])).json<{
      components: Array<{ vendorId: string; classId: string }>;
    }>();
    expect(created.json()).toMatchObject({
      vendorId: inspect.components[0]!.vendorId,
      classId: inspect.components[0]!.classId,
    });
    const key = await cli(['class', 'add-key', 'thermostats', 'release.pub', '--json']);
    expect(key.code, key.stderr).toBe(0);
    const { kid } = (await run(dir, ['keys', 'show', 'release.pub', '--json'])).json<{
      kid: string;
    }>();
    expect(key.json()).toMatchObject({ kid, revokedAt: null });
    const list = await cli(['class', 'list']);
    expect(list.stdout).toMatch(/^ID +NAME +VENDOR-ID +CLASS-ID\n.*thermostats/);
    expectError(
      await cli([
        'class',
        'create',
        'thermostats',
        '--vendor',
        'example.com',
        '--model',
        'thermostat-v2',
      ]),
      EXIT_CODES.service,
      'RESOURCE_CONFLICT',
    );
    expectError(await cli(['class', 'create', 'x', '--model', 'm']), EXIT_CODES.usage, 'CLI_USAGE');
  });

  it('rejects a release signed by an untrusted key and a payload that differs from the manifest', async () => {
    expectError(
      await cli(['release', 'upload', 'rogue.suit', '--class', 'thermostats', '-p', 'app.bin']),
      EXIT_CODES.service,
      'RELEASE_KEY_UNTRUSTED',
    );
    const other = Buffer.from(image);
    other[100]! ^= 1;
    await writeFile(join(dir, 'other.bin'), other);
    expectError(
      await cli(['release', 'upload', 'app.suit', '--class', 'thermostats', '-p', 'other.bin']),
      EXIT_CODES.service,
      'RELEASE_PAYLOAD_MISMATCH',
    );
    expect((await cli(['release', 'list', '--json'])).json()).toEqual({ items: [] });
  });

  it('resumes an interrupted upload where the service stopped, then creates the release', async () => {
    // As after Ctrl-C or a crash: a session holding the first MiB, remembered by the CLI.
    const stored = JSON.parse(await readFile(config, 'utf8'));
    const auth = { authorization: `Bearer ${stored.token}` };
    const session = (await (
      await fetch(`${server.url}/api/v1/uploads`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ size: image.length }),
      })
    ).json()) as { id: string };
    const put = await fetch(`${server.url}/api/v1/uploads/${session.id}?offset=0`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/octet-stream' },
      body: image.subarray(0, 1024 * 1024),
    });
    expect(put.status).toBe(200);
    const sha = new Uint8Array(createHash('sha256').update(image).digest());
    const statePath = uploadStatePath(config, server.url, join(dir, 'app.bin'), image.length, sha);
    await mkdir(dirname(statePath), { recursive: true });
    await writeFile(statePath, JSON.stringify({ uploadId: session.id, size: image.length }));

    const r = await cli([
      'release',
      'upload',
      'app.suit',
      '--class',
      'thermostats',
      '-p',
      'app.bin',
      '--chunk-mib',
      '1',
      '--json',
    ]);
    expect(r.code, r.stdout).toBe(0);
    const out = r.json<{
      release: { id: string; version: string };
      uploads: Array<{ uploadId: string; resumedAt: number }>;
    }>();
    expect(out.uploads).toEqual([
      expect.objectContaining({ uploadId: session.id, resumedAt: 1024 * 1024 }),
    ]);
    expect(out.release.version).toBe('1.3.0');
    releaseId = out.release.id;
    await expect(stat(statePath)).rejects.toThrow();

    const shown = await cli(['release', 'show', releaseId, '--json']);
    expect(shown.json()).toMatchObject({
      id: releaseId,
      sequenceNumber: 10000300000999,
      payloads: [{ size: image.length }],
    });
    expect((await cli(['release', 'list', '--class', classId])).stdout).toMatch(
      new RegExp(`${releaseId} +1\\.3\\.0 +10000300000999`),
    );
    expectError(
      await cli(['release', 'upload', 'app.suit', '--class', 'thermostats', '-p', 'app.bin']),
      EXIT_CODES.service,
      'RELEASE_EXISTS',
    );
  });

  it('stops an upload on the stop signal and continues the same session on the next run', async () => {
    await writeFile(join(dir, 'copy.bin'), image);
    const stop = new AbortController();
    stop.abort();
    const interrupted = await run(
      dir,
      [
        'release',
        'upload',
        'rogue.suit',
        '--class',
        'thermostats',
        '-p',
        'copy.bin',
        '--config',
        config,
      ],
      { signal: stop.signal },
    );
    expectError(interrupted, EXIT_CODES.interrupted, 'CLI_INTERRUPTED');
    const sha = new Uint8Array(createHash('sha256').update(image).digest());
    const statePath = uploadStatePath(config, server.url, join(dir, 'copy.bin'), image.length, sha);
    const { uploadId } = JSON.parse(await readFile(statePath, 'utf8'));
    // The next run sends the bytes into the same session; the release is then refused (rogue key).
    const again = await cli([
      'release',
      'upload',
      'rogue.suit',
      '--class',
      'thermostats',
      '-p',
      'copy.bin',
    ]);
    expectError(again, EXIT_CODES.service, 'RELEASE_KEY_UNTRUSTED');
    const { token } = JSON.parse(await readFile(config, 'utf8'));
    const session = (await (
      await fetch(`${server.url}/api/v1/uploads/${uploadId}`, {
        headers: { authorization: `Bearer ${token}` },
      })
    ).json()) as { offset: number; complete: boolean };
    expect(session).toMatchObject({ offset: image.length, complete: true });
  });

  it('logs in with an API token, and refuses a bad one', async () => {
    const { token } = JSON.parse(await readFile(config, 'utf8'));
    const created = (await (
      await fetch(`${server.url}/api/v1/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'ci' }),
      })
    ).json()) as { token: string };
    const other = join(dir, 'other.json');
    const r = await run(dir, [
      'login',
      '--server',
      server.url,
      '--token',
      created.token,
      '--config',
      other,
      '--json',
    ]);
    expect(r.code, r.stdout).toBe(0);
    expect(r.json()).toMatchObject({ username: 'admin', expiresAt: null });
    expect((await run(dir, ['class', 'list', '--config', other])).code).toBe(0);
    const bad = await run(dir, [
      'login',
      '--server',
      server.url,
      '--token',
      'nope',
      '--config',
      join(dir, 'bad.json'),
    ]);
    expectError(bad, EXIT_CODES.service, 'AUTH_UNAUTHENTICATED');
  });

  it('registers, lists and shows devices', async () => {
    const added = await cli([
      'device',
      'add',
      'thermo-0001',
      '--class',
      'thermostats',
      '--attr',
      'hw=B',
      '--attr',
      'floor=3',
      '--tag',
      'lab',
      '--json',
    ]);
    expect(added.code, added.stderr).toBe(0);
    const body = added.json<{ device: { id: string }; token: string }>();
    deviceId = body.device.id;
    expect(body.token.length).toBeGreaterThan(16);
    await cli(['device', 'add', 'thermo-0002', '--class', 'thermostats']);
    const page = (await cli(['device', 'list', '--tag', 'lab', '--json'])).json<{
      items: Array<{ name: string }>;
      total: number;
    }>();
    expect(page.items.map((d) => d.name)).toEqual(['thermo-0001']);
    expect(page.total).toBe(1);
    const all = (
      await cli([
        'device',
        'list',
        '--class',
        'thermostats',
        '--order',
        'desc',
        '--limit',
        '1',
        '--json',
      ])
    ).json<{ items: Array<{ name: string }>; total: number }>();
    expect(all).toMatchObject({ total: 2, items: [{ name: 'thermo-0002' }] });
    const shown = await cli(['device', 'show', deviceId, '--json']);
    expect(shown.json()).toMatchObject({
      name: 'thermo-0001',
      attributes: { custom: { hw: 'B', floor: 3 } },
      actions: [],
    });
    expectError(
      await cli(['device', 'add', 'bad name!', '--class', 'thermostats']),
      EXIT_CODES.service,
      'HTTP_VALIDATION_FAILED',
    );
    expectError(
      await cli(['device', 'show', 'dev_nope']),
      EXIT_CODES.service,
      'RESOURCE_NOT_FOUND',
    );
  });

  it('assigns a release, refuses a second open action, and cancels', async () => {
    const assigned = await cli(['action', 'assign', deviceId, releaseId, '--json']);
    expect(assigned.code, assigned.stderr).toBe(0);
    const action = assigned.json<{ id: string; state: string; open: boolean }>();
    expect(action).toMatchObject({ open: true, cancelRequested: false });
    expectError(
      await cli(['action', 'assign', deviceId, releaseId]),
      EXIT_CODES.service,
      'ACTION_ALREADY_OPEN',
    );
    const shown = await cli(['action', 'show', action.id]);
    expect(shown.stdout).toMatch(
      new RegExp(`^action ${action.id}: release ${releaseId} → device ${deviceId}`),
    );
    const canceled = await cli(['action', 'cancel', action.id, '--json']);
    expect(canceled.code, canceled.stderr).toBe(0);
    expect(canceled.json()).toMatchObject({ id: action.id, cancelRequested: true });
    // Names and versions work where ids do.
    const byName = await cli([
      'action',
      'assign',
      'thermo-0002',
      '1.3.0',
      '--download-only',
      '--json',
    ]);
    expect(byName.code, byName.stderr).toBe(0);
    expect(byName.json()).toMatchObject({ releaseId, downloadOnly: true });
    expect((await cli(['release', 'show', '1.3.0', '--json'])).json()).toMatchObject({
      id: releaseId,
    });
    expect((await cli(['device', 'show', 'thermo-0001', '--json'])).json()).toMatchObject({
      id: deviceId,
    });
    expectError(
      await cli(['action', 'assign', 'thermo-9999', releaseId]),
      EXIT_CODES.usage,
      'CLI_USAGE',
    );
    expectError(await cli(['action', 'assign', deviceId, '9.9.9']), EXIT_CODES.usage, 'CLI_USAGE');
    expectError(
      await cli(['action', 'assign', deviceId, releaseId, '--window-start', 'soon']),
      EXIT_CODES.usage,
      'CLI_USAGE',
    );
    // Recurring windows and action types: the flags' own shape is checked here, the cron
    // expression and zone by the service (before it looks at the device's open action).
    for (const extra of [
      ['--window', '0 2 * * *'],
      ['--window', '0 2 * * *', '--window-duration', 'an hour'],
      ['--window-tz', 'UTC'],
      ['--action', 'urgent'],
      ['--action', 'time-forced', '--force-after', 'tomorrow'],
    ]) {
      expectError(
        await cli(['action', 'assign', deviceId, releaseId, ...extra]),
        EXIT_CODES.usage,
        'CLI_USAGE',
      );
    }
    expectError(
      await cli([
        'action',
        'assign',
        deviceId,
        releaseId,
        '--window',
        '0 2 * * *',
        '--window-duration',
        '2h',
        '--window-tz',
        'Europe/Atlantis',
      ]),
      EXIT_CODES.service,
      'ACTION_WINDOW_INVALID',
    );
    expectError(
      await cli(['action', 'assign', deviceId, releaseId, '--action', 'time-forced']),
      EXIT_CODES.service,
      'ACTION_TYPE_INVALID',
    );
  });

  let v3ClassId: string;
  let v3ReleaseId: string;

  it("resolves a version within the device's class (two classes have 1.3.0)", async () => {
    // A second class with its own 1.3.0: the version alone no longer names one release.
    await writeFile(
      join(dir, 'v3.yaml'),
      'vendor: example.com\nclass: thermostat-v3\nversion: 1.3.0\ncomponents: [{ image: app.bin, uri: "https://fw.example.com/app.bin" }]\n',
    );
    expect((await run(dir, ['manifest', 'create', 'v3.yaml', '--out', 'v3.suit'])).code).toBe(0);
    expect((await run(dir, ['manifest', 'sign', 'v3.suit', '--key', 'release.key'])).code).toBe(0);
    const v3 = await cli([
      'class',
      'create',
      'thermostats-v3',
      '--vendor',
      'example.com',
      '--model',
      'thermostat-v3',
      '--json',
    ]);
    v3ClassId = v3.json<{ id: string }>().id;
    expect((await cli(['class', 'add-key', 'thermostats-v3', 'release.pub'])).code).toBe(0);
    const upload = await cli([
      'release',
      'upload',
      'v3.suit',
      '--class',
      'thermostats-v3',
      '-p',
      'app.bin',
      '--json',
    ]);
    expect(upload.code, upload.stderr).toBe(0);
    v3ReleaseId = upload.json<{ release: { id: string } }>().release.id;
    expect((await cli(['device', 'add', 'thermo-v3-0001', '--class', v3ClassId])).code).toBe(0);

    const assigned = await cli(['action', 'assign', 'thermo-v3-0001', '1.3.0', '--json']);
    expect(assigned.code, assigned.stderr).toBe(0);
    expect(assigned.json()).toMatchObject({ releaseId: v3ReleaseId });

    expectError(await cli(['release', 'show', '1.3.0']), EXIT_CODES.usage, 'CLI_USAGE');
    const shown = await cli(['release', 'show', '1.3.0', '--class', 'thermostats-v3']);
    expect(shown.stdout).toMatch(
      new RegExp(`^release ${v3ReleaseId}: .*\\n  class thermostats-v3 \\(${v3ClassId}\\)`),
    );
  });

  it('shows class names, not ids, in device and release lists', async () => {
    const releases = (await cli(['release', 'list'])).stdout;
    expect(releases).toMatch(new RegExp(`${v3ReleaseId} +1\\.3\\.0 +\\d+ +thermostats-v3 `));
    expect(releases).toMatch(new RegExp(`${releaseId} +1\\.3\\.0 +\\d+ +thermostats `));
    expect(releases).not.toContain(classId);
    const devices = (await cli(['device', 'list'])).stdout;
    expect(devices).toMatch(/thermo-0001 +thermostats /);
    expect(devices).toMatch(/thermo-v3-0001 +thermostats-v3 /);
    expect(devices).not.toContain(v3ClassId);
    expect((await cli(['device', 'show', 'thermo-v3-0001'])).stdout).toMatch(
      new RegExp(
        `^device thermo-v3-0001 \\(dev_\\S+\\), class thermostats-v3 \\(${v3ClassId}\\)\\n`,
      ),
    );
  });

  it('names the delta bases of a release', async () => {
    const next = Buffer.from(image);
    next.write('a newer build', 1000);
    await writeFile(join(dir, 'app-1.4.bin'), next);
    await writeFile(
      join(dir, 'r14.yaml'),
      'vendor: example.com\nclass: thermostat-v2\nversion: 1.4.0\ncomponents: [{ image: app-1.4.bin, uri: "https://fw.example.com/app.bin" }]\n',
    );
    await run(dir, ['manifest', 'create', 'r14.yaml', '--out', 'r14.suit']);
    await run(dir, ['manifest', 'sign', 'r14.suit', '--key', 'release.key']);
    const upload = await cli([
      'release',
      'upload',
      'r14.suit',
      '--class',
      'thermostats',
      '-p',
      'app-1.4.bin',
      '--json',
    ]);
    expect(upload.code, upload.stderr).toBe(0);
    const r14 = upload.json<{ release: { id: string } }>().release.id;

    // --lazy: nothing is encoded until a device running 1.3.0 checks in.
    const lazy = await cli([
      'release',
      'delta-bases',
      '1.4.0',
      '1.3.0',
      '--class',
      'thermostats',
      '--lazy',
      '--json',
    ]);
    expect(lazy.code, lazy.stderr).toBe(0);
    expect(lazy.json()).toEqual({
      releaseId: r14,
      anyInstalled: false,
      baseReleaseIds: [releaseId],
      patches: [],
      deliveries: 0,
      bytesSaved: 0,
    });
    // The version is resolved by the service within the release's class (thermostats-v3 has a
    // 1.3.0 too); the same call without --lazy queues the patch at once.
    const eager = await cli(['release', 'delta-bases', r14, releaseId, '--json']);
    expect(eager.json()).toMatchObject({
      baseReleaseIds: [releaseId],
      patches: [{ targetDigest: createHash('sha256').update(next).digest('hex') }],
    });
    const any = await cli(['release', 'delta-bases', '1.4.0', '--any-installed', '--lazy']);
    expect(any.code, any.stderr).toBe(0);
    expect(any.stdout).toMatch(
      new RegExp(`^release ${r14}: delta bases none; any installed image: yes\\n`),
    );

    const shown = await cli(['release', 'deltas', '1.4.0', '--json']);
    expect(shown.json()).toMatchObject({ releaseId: r14, anyInstalled: true, baseReleaseIds: [] });
    expectError(await cli(['release', 'delta-bases', '1.4.0']), EXIT_CODES.usage, 'CLI_USAGE');
    const unknown = await cli(['release', 'delta-bases', '1.4.0', '9.9.9', '--json']);
    expect(unknown.code).toBe(EXIT_CODES.service);
    expect(unknown.json()).toMatchObject({ error: { code: 'RESOURCE_INVALID' } });
    expect((await cli(['release', 'show', '1.4.0', '--json'])).code).toBe(0);
  });

  it('refuses a private key file for a class, and takes a COSE_Key file', async () => {
    expectError(
      await cli(['class', 'add-key', 'thermostats', 'rogue.key']),
      EXIT_CODES.input,
      'CLI_KEY_PRIVATE',
    );
    expectError(
      await cli(['class', 'revoke-key', 'thermostats', 'release.key']),
      EXIT_CODES.input,
      'CLI_KEY_PRIVATE',
    );
    // A COSE_Key with its private part (d) is refused the same way.
    const privateCose = encodeCoseKey(
      keyObjectToCoseKey(importPem(await readFile(join(dir, 'rogue.key')))),
    );
    await writeFile(join(dir, 'rogue-private.cose'), privateCose);
    expectError(
      await cli(['class', 'add-key', 'thermostats', 'rogue-private.cose']),
      EXIT_CODES.input,
      'CLI_KEY_PRIVATE',
    );
    const keys = await cli(['class', 'add-key', 'thermostats', 'release.pub']);
    expectError(keys, EXIT_CODES.service, 'RESOURCE_CONFLICT');
    // The COSE_Key as `keys show` prints it (hex), then the same key as raw CBOR bytes.
    const { kid, coseKey } = (await run(dir, ['keys', 'show', 'rogue.pub', '--json'])).json<{
      kid: string;
      coseKey: string;
    }>();
    await writeFile(join(dir, 'rogue.cose.hex'), `${coseKey}\n`);
    await writeFile(join(dir, 'rogue.cose'), Buffer.from(coseKey, 'hex'));
    const added = await cli(['class', 'add-key', 'thermostats', 'rogue.cose.hex', '--json']);
    expect(added.code, added.stderr).toBe(0);
    expect(added.json()).toMatchObject({ kid, format: 'cose_key', revokedAt: null });
    const revoked = await cli(['class', 'revoke-key', 'thermostats', 'rogue.cose', '--json']);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.json()).toMatchObject({ kid, revokedAt: expect.any(String) });
    expectError(
      await cli(['class', 'revoke-key', 'thermostats-v3', 'rogue.cose']),
      EXIT_CODES.usage,
      'CLI_USAGE',
    );
  });

  it('revokes a trusted key by the public key file it was added with', async () => {
    const { kid } = (await run(dir, ['keys', 'show', 'release.pub', '--json'])).json<{
      kid: string;
    }>();
    const r = await cli(['class', 'revoke-key', 'thermostats-v3', 'release.pub', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ kid, revokedAt: expect.any(String) });
  });

  it('revokes a trusted key by kid', async () => {
    const { kid } = (await run(dir, ['keys', 'show', 'release.pub', '--json'])).json<{
      kid: string;
    }>();
    const r = await cli([
      'class',
      'revoke-key',
      'thermostats',
      kid,
      '--reason',
      'rotated',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json<{ revokedAt: string | null }>().revokedAt).not.toBeNull();
    expectError(
      await cli(['class', 'revoke-key', 'thermostats', 'key_nope']),
      EXIT_CODES.usage,
      'CLI_USAGE',
    );
  });

  it('warns before sending credentials over plain HTTP to another host', async () => {
    // Port 9 is one fetch refuses at once, so nothing leaves the machine.
    const r = await run(dir, [
      'login',
      '--server',
      'http://192.0.2.1:9',
      '--token',
      't',
      '--config',
      join(dir, 'w.json'),
    ]);
    expect(r.stderr).toMatch(/^updraft: warning: http:\/\/192\.0\.2\.1:9 is plain HTTP/);
    expect(r.code).toBe(EXIT_CODES.service);
  });

  it('never sends the stored token to another server', async () => {
    let seen: string | undefined;
    const other = createServer((socket) => {
      socket.once('data', (d) => {
        seen = d.toString('latin1');
        socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      });
    });
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    const port = (other.address() as { port: number }).port;
    try {
      const r = await cli(['class', 'list', '--server', `http://127.0.0.1:${port}`]);
      expectError(r, EXIT_CODES.service, 'CLI_NOT_LOGGED_IN');
      expect(seen).toBeUndefined();
    } finally {
      other.close();
    }
  });

  it('reports an unreachable service and a corrupted config file', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const p = (probe.address() as { port: number }).port;
        probe.close(() => resolve(p));
      });
    });
    expectError(
      await cli(['class', 'list', '--server', `http://127.0.0.1:${port}`, '--token', 't']),
      EXIT_CODES.service,
      'CLI_SERVICE_UNREACHABLE',
    );
    expectError(
      await cli(['class', 'list', '--server', 'ftp://x', '--token', 't']),
      EXIT_CODES.usage,
      'CLI_USAGE',
    );
    await writeFile(join(dir, 'broken.json'), '{ nope');
    expectError(
      await run(dir, ['class', 'list', '--config', 'broken.json']),
      EXIT_CODES.input,
      'CLI_CONFIG_INVALID',
    );
  });
});
