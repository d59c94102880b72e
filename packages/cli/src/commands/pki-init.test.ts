import { execFileSync } from 'node:child_process';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../exit-codes.js';
import { run, tempDir } from '../testing/capture-io.js';

// openssl judges the files; it is required (no skip): a machine without it fails here.
const OPENSSL = '/usr/bin/openssl';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(() => cleanup());

function openssl(args: string[], cwd: string): string {
  return execFileSync(OPENSSL, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

describe('pki init', () => {
  it('writes root, issuing CA, chain and a server certificate that openssl verifies', async () => {
    const r = await run(dir, [
      'pki',
      'init',
      '--out',
      'pki',
      '--host',
      'updraft.example.com',
      '--host',
      '127.0.0.1',
      '--tenant',
      'acme',
      '--json',
    ]);
    expect(r.code).toBe(0);
    const out = r.json<{
      directory: string;
      files: Record<string, string>;
      root: { subject: string; fingerprint: string };
      issuing: { subject: string; issuer: string };
      server: { subjectAltNames: string[] };
    }>();
    const pki = join(dir, 'pki');
    expect(out.directory).toBe(pki);
    expect((await readdir(pki)).sort()).toEqual([
      'chain.pem',
      'issuing.key',
      'issuing.pem',
      'root.key',
      'root.pem',
      'server.key',
      'server.pem',
    ]);
    for (const key of ['root.key', 'issuing.key', 'server.key']) {
      expect((await stat(join(pki, key))).mode & 0o777).toBe(0o600);
    }
    expect(out.issuing).toMatchObject({
      subject: 'CN=Updraft issuing CA acme',
      issuer: 'CN=Updraft root CA',
    });
    expect(out.server.subjectAltNames).toEqual(['DNS:updraft.example.com', 'IP Address:127.0.0.1']);
    // server.pem carries the issuing CA after the leaf; the root alone is the trust anchor.
    expect(
      openssl(
        [
          'verify',
          '-purpose',
          'sslserver',
          '-verify_hostname',
          'updraft.example.com',
          '-CAfile',
          'root.pem',
          '-untrusted',
          'server.pem',
          'server.pem',
        ],
        pki,
      ).trim(),
    ).toBe('server.pem: OK');
    expect(openssl(['verify', '-CAfile', 'root.pem', 'issuing.pem'], pki).trim()).toBe(
      'issuing.pem: OK',
    );
    expect(openssl(['verify', '-CAfile', 'chain.pem', 'issuing.pem'], pki).trim()).toBe(
      'issuing.pem: OK',
    );
    // Each key belongs to its certificate.
    for (const name of ['root', 'issuing', 'server']) {
      const fromKey = openssl(['pkey', '-in', `${name}.key`, '-pubout'], pki);
      const fromCert = openssl(['x509', '-in', `${name}.pem`, '-noout', '-pubkey'], pki);
      expect(fromKey).toBe(fromCert);
    }
  });

  it('without --host writes no server certificate and prints a human summary', async () => {
    const r = await run(dir, ['pki', 'init', '--out', 'pki']);
    expect(r.code).toBe(0);
    expect((await readdir(join(dir, 'pki'))).sort()).toEqual([
      'chain.pem',
      'issuing.key',
      'issuing.pem',
      'root.key',
      'root.pem',
    ]);
    expect(r.stdout).toMatch(
      /^PKI created in .*pki\n {2}root {5}.*root\.pem \(key .*root\.key, mode 0600: keep it offline\)/,
    );
    expect(r.stdout).toMatch(/issuing CA|tenant default/);
  });

  it('refuses to overwrite any existing file and writes nothing then', async () => {
    const first = await run(dir, ['pki', 'init', '--out', 'pki']);
    expect(first.code).toBe(0);
    const before = await readFile(join(dir, 'pki', 'root.key'), 'utf8');
    const again = await run(dir, ['pki', 'init', '--out', 'pki', '--host', 'localhost']);
    expect(again.code).toBe(EXIT_CODES.input);
    expect(again.stderr).toMatch(/refusing to overwrite .*root\.key \[CLI_FILE_EXISTS\]/);
    expect(await readFile(join(dir, 'pki', 'root.key'), 'utf8')).toBe(before);
    expect((await readdir(join(dir, 'pki'))).includes('server.pem')).toBe(false);

    await writeFile(join(dir, 'chain.pem'), 'mine');
    const partial = await run(dir, ['pki', 'init', '--out', '.']);
    expect(partial.code).toBe(EXIT_CODES.input);
    expect((await readdir(dir)).filter((f) => f.endsWith('.key'))).toEqual([]);
  });

  it('a bad --host is a usage error and writes nothing', async () => {
    const r = await run(dir, ['pki', 'init', '--out', 'pki', '--host', 'not a host']);
    expect(r.code).toBe(EXIT_CODES.usage);
    expect(r.stderr).toMatch(/neither a DNS name nor an IP address/);
    await expect(stat(join(dir, 'pki'))).rejects.toThrow();
  });
});
