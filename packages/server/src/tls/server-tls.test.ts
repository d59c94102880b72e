import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, type ServerConfigInput } from '../config/config.js';
import { startServer } from '../main.js';
import { createIssuingCa, createRootCa, issueServerCertificate } from '../pki/pki.js';

const run = promisify(execFile);
const silent = () => new Writable({ write: (_c, _e, cb) => cb() });

/** `openssl s_client` against the port: `true` when the handshake completed. */
async function opensslConnects(port: number, version: '-tls1_2' | '-tls1_3', caFile?: string) {
  const args = ['s_client', '-connect', `127.0.0.1:${port}`, version, '-brief'];
  if (caFile !== undefined) args.push('-CAfile', caFile, '-verify_return_error');
  try {
    const child = run('openssl', args, { timeout: 10_000 });
    child.child.stdin?.end();
    const { stderr } = await child;
    return /Protocol version: TLSv1\.[23]/.test(stderr);
  } catch {
    return false;
  }
}

describe('TLS listener', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });
  const start = async (dataDir: string, tls: ServerConfigInput['tls'], printed: string[]) =>
    startServer(
      loadConfig({
        overrides: {
          dataDir,
          port: 0,
          auth: { adminPassword: 'tls-test-password-0123' },
          tls: { enabled: true, ...tls },
        },
      }),
      { handleSignals: false, print: (line) => printed.push(line), logStream: silent() },
    );

  it('issues the server certificate on first start, reuses it on the second, writes ca.pem and prints its fingerprint', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'updraft-tls-'));
    dirs.push(dataDir);
    const printed: string[] = [];
    const first = await start(dataDir, {}, printed);
    const caFile = path.join(dataDir, 'pki', 'ca.pem');
    let firstCert: string;
    try {
      expect(first.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(printed).toContain(`Updraft server listening on ${first.url}`);
      const fingerprint = (
        await run('openssl', ['x509', '-in', caFile, '-noout', '-fingerprint', '-sha256'])
      ).stdout
        .trim()
        .replace(/^.*=/, '');
      expect(printed.join('\n')).toContain(`${caFile}   (SHA-256 fingerprint ${fingerprint})`);
      // ca.pem: the issuing CA then the root, what devices pin.
      expect((await readFile(caFile, 'utf8')).match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
      expect((await stat(path.join(dataDir, 'pki', 'server.key'))).mode & 0o777).toBe(0o600);
      firstCert = await readFile(path.join(dataDir, 'pki', 'server.pem'), 'utf8');
      const leaf = new X509Certificate(firstCert);
      expect(leaf.checkHost('localhost')).toBe('localhost');
      expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1');
      // A client pinning ca.pem verifies the server (curl: real HTTPS, no -k).
      const { stdout } = await run('curl', ['-sS', '--cacert', caFile, `${first.url}/healthz`]);
      expect(JSON.parse(stdout)).toMatchObject({ status: 'ok' });
    } finally {
      await first.close();
    }
    const second = await start(dataDir, {}, printed);
    try {
      expect(await readFile(path.join(dataDir, 'pki', 'server.pem'), 'utf8')).toBe(firstCert);
      const port = Number(new URL(second.url).port);
      expect(await opensslConnects(port, '-tls1_3', caFile)).toBe(true);
    } finally {
      await second.close();
    }
    // Changed hosts: a new certificate for them.
    const third = await start(
      dataDir,
      { hosts: ['localhost', '127.0.0.1', 'updates.example'] },
      [],
    );
    try {
      const cert = new X509Certificate(
        await readFile(path.join(dataDir, 'pki', 'server.pem'), 'utf8'),
      );
      expect(cert.checkHost('updates.example')).toBe('updates.example');
    } finally {
      await third.close();
    }
  });

  it('refuses TLS 1.2 by default and accepts TLS 1.3', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'updraft-tls-'));
    dirs.push(dataDir);
    const server = await start(dataDir, {}, []);
    try {
      const port = Number(new URL(server.url).port);
      expect(await opensslConnects(port, '-tls1_2')).toBe(false);
      expect(await opensslConnects(port, '-tls1_3')).toBe(true);
      // Plain HTTP on the TLS port gets no HTTP answer.
      await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
    } finally {
      await server.close();
    }
  });

  it('accepts a TLS 1.2 client when tls.minVersion opts in', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'updraft-tls-'));
    dirs.push(dataDir);
    const server = await start(dataDir, { minVersion: 'TLSv1.2' }, []);
    try {
      const port = Number(new URL(server.url).port);
      expect(await opensslConnects(port, '-tls1_2')).toBe(true);
      expect(await opensslConnects(port, '-tls1_3')).toBe(true);
    } finally {
      await server.close();
    }
  });

  it('serves a configured certificate and fails the start on a key that does not match', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'updraft-tls-'));
    dirs.push(dataDir);
    const now = new Date();
    const root = await createRootCa({ commonName: 'Operator root', validityDays: 30, now });
    const issuing = await createIssuingCa(root, {
      commonName: 'Operator CA',
      validityDays: 30,
      now,
    });
    const server = await issueServerCertificate(issuing, {
      hosts: ['localhost', '127.0.0.1'],
      validityDays: 30,
      now,
    });
    const other = await issueServerCertificate(issuing, {
      hosts: ['localhost'],
      validityDays: 30,
      now,
    });
    const certFile = path.join(dataDir, 'chain.pem');
    const keyFile = path.join(dataDir, 'key.pem');
    const wrongKeyFile = path.join(dataDir, 'wrong.pem');
    const rootFile = path.join(dataDir, 'root.pem');
    await writeFile(certFile, `${server.certificatePem}${issuing.certificatePem}`);
    await writeFile(keyFile, server.privateKeyPem);
    await writeFile(wrongKeyFile, other.privateKeyPem);
    await writeFile(rootFile, root.certificatePem);

    const printed: string[] = [];
    const running = await start(dataDir, { certFile, keyFile }, printed);
    try {
      const { stdout } = await run('curl', ['-sS', '--cacert', rootFile, `${running.url}/healthz`]);
      expect(JSON.parse(stdout)).toMatchObject({ status: 'ok' });
      await expect(stat(path.join(dataDir, 'pki', 'server.pem'))).rejects.toThrow();
    } finally {
      await running.close();
    }
    await expect(start(dataDir, { certFile, keyFile: wrongKeyFile }, [])).rejects.toMatchObject({
      code: 'TLS_KEY_MISMATCH',
      message: expect.stringContaining('is not the private key of the certificate'),
    });
    await expect(start(dataDir, { certFile, keyFile: '' }, [])).rejects.toMatchObject({
      code: 'TLS_CERTIFICATE_INVALID',
    });
  });
});
