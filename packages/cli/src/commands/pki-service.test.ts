import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  createIssuingCa,
  createRootCa,
  issueServerCertificate,
  type RunningServer,
} from '@updraft/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../exit-codes.js';
import { type RunResult, run, tempDir } from '../testing/capture-io.js';
import { type AdminApi, adminApi, startTestService } from '../testing/test-service.js';

// `updraft pki …` and `updraft device accept|reject` against a real update service on
// 127.0.0.1; `--ca-file` against the same service behind a real TLS listener (node:https).

const PASSWORD = 'pki-cli-admin-password';
let server: RunningServer;
let dir: string;
let cleanup: () => Promise<void>;
let token: string;
let admin: AdminApi;
let tlsProxy: Server;
let tlsUrl: string;

const cli = (argv: string[], env: Record<string, string> = {}) =>
  run(dir, [...argv, '--config', join(dir, 'admin.json')], { env });
const json = async <T = Record<string, unknown>>(argv: string[]): Promise<T> => {
  const r = ok(await cli([...argv, '--json']));
  return JSON.parse(r.stdout) as T;
};

function ok(r: RunResult): RunResult {
  expect(r.code, r.stdout + r.stderr).toBe(EXIT_CODES.ok);
  return r;
}

const api = <T = Record<string, unknown>>(method: string, path: string, body?: unknown) =>
  admin.call<T>(method, path, body);

/** Enrolls `device` with `enrollToken` over EST (openssl makes the key and CSR). */
async function enroll(device: string, enrollToken: string): Promise<void> {
  const csr = execFileSync(
    'openssl',
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      join(dir, `${device}.key`),
      '-subj',
      '/CN=x',
      '-outform',
      'DER',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const res = await fetch(`${server.url}/.well-known/est/simpleenroll`, {
    method: 'POST',
    headers: {
      'content-type': 'application/pkcs10',
      authorization: `Basic ${Buffer.from(`${device}:${enrollToken}`).toString('base64')}`,
    },
    body: csr.toString('base64'),
  });
  expect(res.status, await res.clone().text()).toBe(200);
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  server = await startTestService({ dir, adminPassword: PASSWORD });
  admin = await adminApi(server, PASSWORD);
  token = admin.token;
  await writeFile(join(dir, 'admin.json'), JSON.stringify({ server: server.url, token }), {
    mode: 0o600,
  });
  const cls = await api<{ id: string }>('POST', '/api/v1/device-classes', {
    name: 'pump',
    vendorId: randomUUID(),
    classId: randomUUID(),
  });
  await api('POST', '/api/v1/devices', { name: 'pump-1', deviceClassId: cls.id });
});

afterAll(async () => {
  await new Promise((resolve) => (tlsProxy ? tlsProxy.close(resolve) : resolve(undefined)));
  await server?.close();
  await cleanup?.();
});

describe('updraft pki (against a real service)', () => {
  let serial: string;

  it('token create → EST enrollment → cert list and show', async () => {
    const created = await json<{ token: string; expiresAt: string; deviceId: string }>([
      'pki',
      'token',
      'create',
      'pump-1',
      '--expires-in',
      '3600',
    ]);
    expect(created.token).toMatch(/^updraft_enroll_/);
    expect(Date.parse(created.expiresAt)).toBeGreaterThan(Date.now() + 3_500_000);
    await enroll('pump-1', created.token);
    const list = await json<{ items: Array<{ serial: string; state: string }> }>([
      'pki',
      'cert',
      'list',
      '--device',
      'pump-1',
      '--state',
      'active',
    ]);
    expect(list.items).toHaveLength(1);
    serial = list.items[0]!.serial;
    const expiring = await json<{ items: unknown[] }>([
      'pki',
      'cert',
      'list',
      '--expiring-within',
      '1',
    ]);
    expect(expiring.items).toHaveLength(0);
    const shown = await json<{ serial: string; subject: string }>([
      'pki',
      'cert',
      'show',
      'pump-1',
    ]);
    expect(shown.serial).toBe(serial);
    expect(shown.subject).toContain('CN=pump-1');
    const human = ok(await cli(['pki', 'cert', 'list']));
    expect(human.stdout).toContain(serial);
  });

  it('cert revoke by serial, then by device', async () => {
    const revoked = await json<{ state: string; revocationReason: string }>([
      'pki',
      'cert',
      'revoke',
      serial,
      '--reason',
      'keyCompromise',
    ]);
    expect(revoked).toMatchObject({ state: 'revoked', revocationReason: 'keyCompromise' });
    const again = await cli(['pki', 'cert', 'revoke', serial, '--json']);
    expect(again.code).not.toBe(EXIT_CODES.ok);
    expect(again.stderr + again.stdout).toContain('RESOURCE_CONFLICT');
    const byDevice = await json<{ revoked: number }>(['pki', 'cert', 'revoke', 'pump-1']);
    expect(byDevice.revoked).toBe(0);
  });

  it('manufacturing-ca add, device reject and accept', async () => {
    const mfg = await createRootCa({
      commonName: 'Factory CA',
      validityDays: 365,
      now: new Date(),
    });
    await writeFile(join(dir, 'mfg.pem'), mfg.certificatePem);
    const added = await json<{ autoAccept: boolean; name: string; fingerprint: string }>([
      'pki',
      'manufacturing-ca',
      'add',
      'mfg.pem',
      '--device-class',
      'pump',
      '--name',
      'Factory',
      '--auto-accept',
    ]);
    expect(added).toMatchObject({ autoAccept: true, name: 'Factory' });
    const listed = await api<{ items: Array<{ fingerprint: string }> }>(
      'GET',
      '/api/v1/pki/manufacturing-cas',
    );
    expect(listed.items.map((c) => c.fingerprint)).toContain(added.fingerprint);
    expect(await json(['device', 'reject', 'pump-1'])).toMatchObject({ admission: 'rejected' });
    expect(await json(['device', 'accept', 'pump-1'])).toMatchObject({ admission: 'accepted' });
  });

  it('ca import makes the offline root’s issuing CA the tenant’s', async () => {
    const now = new Date();
    const root = await createRootCa({ commonName: 'Offline root', validityDays: 3650, now });
    const issuing = await createIssuingCa(root, {
      commonName: 'Issuing acme',
      validityDays: 365,
      now,
    });
    await writeFile(join(dir, 'root.pem'), root.certificatePem);
    await writeFile(join(dir, 'issuing.pem'), issuing.certificatePem);
    await writeFile(join(dir, 'issuing.key'), issuing.privateKeyPem, { mode: 0o600 });
    // A key that is not the certificate's: refused, nothing changes.
    const wrong = await cli([
      'pki',
      'ca',
      'import',
      '--cert',
      'issuing.pem',
      '--key',
      'pump-1.key',
      '--chain',
      'root.pem',
    ]);
    expect(wrong.code).not.toBe(EXIT_CODES.ok);
    expect(wrong.stdout + wrong.stderr).toContain('PKI_INPUT_INVALID');
    const imported = await json<{ source: string; subject: string; chainPem: string }>([
      'pki',
      'ca',
      'import',
      '--cert',
      'issuing.pem',
      '--key',
      'issuing.key',
      '--chain',
      'root.pem',
    ]);
    expect(imported).toMatchObject({ source: 'imported', subject: 'CN=Issuing acme' });
    expect(imported.chainPem).toContain(root.certificatePem.trim().split('\n')[1]);
    // New certificates come from it.
    const { token: t } = await json<{ token: string }>(['pki', 'token', 'create', 'pump-1']);
    await enroll('pump-1', t);
    const shown = await api<{ certificatePem: string }>('GET', '/api/v1/pki/certificates/pump-1');
    await writeFile(join(dir, 'leaf.pem'), shown.certificatePem);
    await writeFile(join(dir, 'chain.pem'), imported.chainPem);
    expect(
      execFileSync('openssl', ['verify', '-CAfile', 'chain.pem', 'leaf.pem'], { cwd: dir })
        .toString()
        .trim(),
    ).toBe('leaf.pem: OK');
  });

  it('--ca-file trusts the PKI’s CA for an HTTPS service; NODE_EXTRA_CA_CERTS is kept beside it', async () => {
    const ca = await api<{ chainPem: string; certificatePem: string }>('GET', '/api/v1/pki/ca');
    const issuing = await createRootCa({
      commonName: 'proxy CA',
      validityDays: 30,
      now: new Date(),
    });
    const cert = await issueServerCertificate(issuing, {
      hosts: ['127.0.0.1'],
      validityDays: 30,
      now: new Date(),
    });
    await writeFile(join(dir, 'proxy-ca.pem'), issuing.certificatePem);
    await writeFile(join(dir, 'other-ca.pem'), ca.certificatePem);
    // The real service behind a TLS listener whose certificate comes from `proxy CA`.
    tlsProxy = createServer(
      { cert: cert.certificatePem, key: cert.privateKeyPem },
      async (req, res) => {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        const answer = await fetch(`${server.url}${req.url}`, {
          method: req.method,
          headers: {
            authorization: String(req.headers.authorization ?? ''),
            ...(chunks.length > 0 ? { 'content-type': 'application/json' } : {}),
          },
          ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
        });
        res.writeHead(answer.status, {
          'content-type': answer.headers.get('content-type') ?? 'text/plain',
        });
        res.end(Buffer.from(await answer.arrayBuffer()));
      },
    );
    await new Promise<void>((resolve) => tlsProxy.listen(0, '127.0.0.1', resolve));
    tlsUrl = `https://127.0.0.1:${(tlsProxy.address() as AddressInfo).port}`;
    const base = ['pki', 'cert', 'list', '--server', tlsUrl, '--token', token, '--json'];

    const untrusted = await cli(base);
    expect(untrusted.code).not.toBe(EXIT_CODES.ok);
    expect(untrusted.stdout + untrusted.stderr).toContain('CLI_SERVICE_UNREACHABLE');
    const trusted = ok(await cli([...base, '--ca-file', 'proxy-ca.pem']));
    expect((JSON.parse(trusted.stdout) as { items: unknown[] }).items.length).toBeGreaterThan(0);
    // Another CA in --ca-file, the right one in NODE_EXTRA_CA_CERTS: both are trusted.
    ok(
      await cli([...base, '--ca-file', 'other-ca.pem'], {
        NODE_EXTRA_CA_CERTS: join(dir, 'proxy-ca.pem'),
      }),
    );
    const wrongOnly = await cli([...base, '--ca-file', 'other-ca.pem']);
    expect(wrongOnly.code).not.toBe(EXIT_CODES.ok);
  });

  it('a missing --cert, CA certificate or --ca-file is CLI_FILE_NOT_FOUND (exit 3), nothing sent', async () => {
    for (const argv of [
      ['pki', 'ca', 'import', '--cert', 'absent.pem', '--key', 'issuing.key'],
      ['pki', 'manufacturing-ca', 'add', 'absent.pem', '--device-class', 'pump'],
      ['pki', 'cert', 'list', '--ca-file', 'absent.pem'],
    ]) {
      const r = await cli([...argv, '--json']);
      expect(r.code, argv.join(' ')).toBe(EXIT_CODES.input);
      expect(r.json<{ error: { code: string } }>().error.code).toBe('CLI_FILE_NOT_FOUND');
    }
  });
});
