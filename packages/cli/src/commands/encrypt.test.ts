import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../exit-codes.js';
import { run, tempDir } from '../testing/capture-io.js';

let dir: string;
let cleanup: () => Promise<void>;
const image = randomBytes(300_000);

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  await writeFile(join(dir, 'fw.bin'), image);
  await run(dir, ['keys', 'generate', '--alg', 'a128kw', '--out', 'class']);
  await run(dir, ['keys', 'generate', '--alg', 'es256', '--out', 'dev-p256']);
  await run(dir, ['keys', 'generate', '--alg', 'x25519', '--out', 'dev-x25519']);
});
afterEach(() => cleanup());

describe('encrypt and decrypt', () => {
  it.each(['A128CTR', 'A256CTR', 'A128GCM', 'A256GCM'])(
    'round-trips with %s for a class KEK and two device keys',
    async (alg) => {
      const enc = await run(dir, [
        'encrypt',
        'fw.bin',
        '--alg',
        alg,
        '-r',
        'class.kek',
        '-r',
        'dev-p256.pub',
        '-r',
        'dev-x25519.pub',
        '--out',
        'fw.enc',
        '--json',
      ]);
      expect(enc.code).toBe(0);
      const result = enc.json<{
        recipients: unknown[];
        plaintextSize: number;
        ciphertextSize: number;
      }>();
      expect(result.recipients).toHaveLength(3);
      expect(result.plaintextSize).toBe(image.length);
      expect(result.ciphertextSize).toBe(image.length + (alg.endsWith('GCM') ? 16 : 0));
      const ciphertext = await readFile(join(dir, 'fw.enc'));
      expect(ciphertext.subarray(0, 64).equals(image.subarray(0, 64))).toBe(false);
      for (const key of ['class.kek', 'dev-p256.key', 'dev-x25519.key']) {
        const dec = await run(dir, [
          'decrypt',
          'fw.enc',
          '--info',
          'fw.enc.info',
          '--key',
          key,
          '--out',
          'out.bin',
        ]);
        expect(dec.code, dec.stderr).toBe(0);
        expect((await readFile(join(dir, 'out.bin'))).equals(image)).toBe(true);
        expect((await stat(join(dir, 'out.bin'))).mode & 0o777).toBe(0o600);
      }
    },
  );

  it('fails with a crypto error for a wrong key and writes no output', async () => {
    await run(dir, ['encrypt', 'fw.bin', '-r', 'class.kek', '--out', 'fw.enc']);
    await run(dir, ['keys', 'generate', '--alg', 'a128kw', '--out', 'other']);
    const r = await run(dir, [
      'decrypt',
      'fw.enc',
      '--info',
      'fw.enc.info',
      '--key',
      'other.kek',
      '--out',
      'out.bin',
    ]);
    expect(r.code).toBe(EXIT_CODES.crypto);
    expect(r.stderr).toMatch(/\[MANIFEST_KEY_UNWRAP_FAILED\]\n$/);
    expect((await readdir(dir)).filter((f) => f.includes('out.bin'))).toEqual([]);
  });

  it('detects a flipped ciphertext bit with AES-GCM and leaves no output file', async () => {
    await run(dir, ['encrypt', 'fw.bin', '--alg', 'A128GCM', '-r', 'class.kek', '--out', 'fw.enc']);
    const bytes = await readFile(join(dir, 'fw.enc'));
    bytes[1000]! ^= 0x01;
    await writeFile(join(dir, 'fw.enc'), bytes);
    const r = await run(dir, [
      'decrypt',
      'fw.enc',
      '--info',
      'fw.enc.info',
      '--key',
      'class.kek',
      '--out',
      'out.bin',
      '--json',
    ]);
    expect(r.code).toBe(EXIT_CODES.crypto);
    expect(r.json()).toMatchObject({ error: { code: 'MANIFEST_DECRYPTION_FAILED' } });
    expect((await readdir(dir)).filter((f) => f.includes('out.bin'))).toEqual([]);
  });

  it('rejects a corrupted encryption info as malformed', async () => {
    await run(dir, ['encrypt', 'fw.bin', '-r', 'class.kek', '--out', 'fw.enc']);
    await writeFile(join(dir, 'fw.enc.info'), Buffer.from('a1ff00', 'hex'));
    const r = await run(dir, [
      'decrypt',
      'fw.enc',
      '--info',
      'fw.enc.info',
      '--key',
      'class.kek',
      '--out',
      'out.bin',
    ]);
    expect(r.code).toBe(EXIT_CODES.malformed);
    expect(r.stderr.split('\n')).toHaveLength(2);
  });

  it('rejects an Ed25519 key as a recipient and a missing image', async () => {
    await run(dir, ['keys', 'generate', '--alg', 'ed25519', '--out', 'sign']);
    const bad = await run(dir, ['encrypt', 'fw.bin', '-r', 'sign.pub', '--out', 'fw.enc']);
    expect(bad.code).toBe(EXIT_CODES.input);
    expect(bad.stderr).toMatch(/P-256 or X25519 key, or a KEK \[CLI_KEY_INVALID\]/);
    const missing = await run(dir, ['encrypt', 'nope.bin', '-r', 'class.kek', '--out', 'fw.enc']);
    expect(missing.code).toBe(EXIT_CODES.input);
    expect(missing.stderr).toMatch(/\[CLI_FILE_NOT_FOUND\]/);
    expect(
      (await readdir(dir)).filter((f) => f.startsWith('fw.enc') || f.startsWith('.fw.enc')),
    ).toEqual([]);
  });

  it('draws a progress bar on a terminal but never in --json mode', async () => {
    await writeFile(join(dir, 'big.bin'), randomBytes(3 * 1024 * 1024));
    const tty = await run(dir, ['encrypt', 'big.bin', '-r', 'class.kek', '--out', 'big.enc'], {
      tty: true,
    });
    expect(tty.code).toBe(0);
    expect(tty.stderr).toMatch(/encrypting \[.*\] 100% \| 3\.0\/3\.0 MiB/);
    const json = await run(
      dir,
      ['encrypt', 'big.bin', '-r', 'class.kek', '--out', 'big2.enc', '--json'],
      { tty: true },
    );
    expect(json.stderr).toBe('');
    expect(json.json()).toMatchObject({ plaintextSize: 3 * 1024 * 1024 });
    const pipe = await run(dir, ['encrypt', 'big.bin', '-r', 'class.kek', '--out', 'big3.enc']);
    expect(pipe.stderr).toBe('');
  });
});
