import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { importPem, keyId } from '@updraft/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../exit-codes.js';
import { run, tempDir } from '../testing/capture-io.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(() => cleanup());

describe('keys generate', () => {
  it.each(['es256', 'ed25519', 'x25519'])(
    'writes a %s private key with mode 0600 and its public key',
    async (alg) => {
      const r = await run(dir, ['keys', 'generate', '--alg', alg, '--out', 'release', '--json']);
      expect(r.code).toBe(0);
      const out = r.json<{ alg: string; kid: string; privateKey: string; publicKey: string }>();
      expect(out).toMatchObject({
        alg,
        privateKey: join(dir, 'release.key'),
        publicKey: join(dir, 'release.pub'),
      });
      expect((await stat(out.privateKey)).mode & 0o777).toBe(0o600);
      const priv = importPem(await readFile(out.privateKey));
      const pub = importPem(await readFile(out.publicKey));
      expect(priv.type).toBe('private');
      expect(pub.type).toBe('public');
      expect(Buffer.from(keyId(pub)).toString('hex')).toBe(out.kid);
      expect(Buffer.from(keyId(priv)).toString('hex')).toBe(out.kid);
    },
  );

  it('writes a KEK file for a128kw and a256kw', async () => {
    for (const [alg, hexChars] of [
      ['a128kw', 32],
      ['a256kw', 64],
    ] as const) {
      const r = await run(dir, ['keys', 'generate', '--alg', alg, '--out', alg, '--json']);
      expect(r.code).toBe(0);
      const text = await readFile(join(dir, `${alg}.kek`), 'utf8');
      expect(text.trim()).toMatch(new RegExp(`^[0-9a-f]{${hexChars}}$`));
      expect((await stat(join(dir, `${alg}.kek`))).mode & 0o777).toBe(0o600);
    }
  });

  it('prints a human summary without --json', async () => {
    const r = await run(dir, ['keys', 'generate', '--alg', 'ed25519', '--out', 'k']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ed25519 key pair\n {2}private {2}.*k\.key \(mode 0600/);
    expect(r.stdout).toMatch(/kid {6}[0-9a-f]{64}\n$/);
  });

  it('refuses to overwrite an existing key without --force, and changes nothing', async () => {
    await writeFile(join(dir, 'k.key'), 'precious');
    const r = await run(dir, ['keys', 'generate', '--alg', 'es256', '--out', 'k']);
    expect(r.code).toBe(EXIT_CODES.input);
    expect(r.stderr).toMatch(/refusing to overwrite .*k\.key \(use --force\) \[CLI_FILE_EXISTS\]/);
    expect(await readFile(join(dir, 'k.key'), 'utf8')).toBe('precious');
    await expect(stat(join(dir, 'k.pub'))).rejects.toThrow();
    const forced = await run(dir, ['keys', 'generate', '--alg', 'es256', '--out', 'k', '--force']);
    expect(forced.code).toBe(0);
    expect(await readFile(join(dir, 'k.key'), 'utf8')).toMatch(/BEGIN PRIVATE KEY/);
  });

  it('rejects an unknown algorithm and a missing --out as usage errors', async () => {
    expect((await run(dir, ['keys', 'generate', '--alg', 'rsa', '--out', 'k'])).code).toBe(
      EXIT_CODES.usage,
    );
    expect((await run(dir, ['keys', 'generate', '--alg', 'es256'])).code).toBe(EXIT_CODES.usage);
  });

  it('reports a missing output directory as a file error', async () => {
    const r = await run(dir, ['keys', 'generate', '--alg', 'es256', '--out', 'no/such/dir/k']);
    expect(r.code).toBe(EXIT_CODES.input);
    expect(r.stderr).toMatch(/\[CLI_FILE_NOT_FOUND\]\n$/);
  });
});
