import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeCoseKey } from '@updraft/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../exit-codes.js';
import { run, tempDir } from '../testing/capture-io.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(() => cleanup());

describe('keys show', () => {
  it('shows alg, kid and the public COSE_Key of a private key and of its public key alike', async () => {
    const gen = await run(dir, ['keys', 'generate', '--alg', 'es256', '--out', 'k', '--json']);
    const { kid } = gen.json<{ kid: string }>();
    const fromPrivate = (await run(dir, ['keys', 'show', 'k.key', '--json'])).json();
    const fromPublic = (await run(dir, ['keys', 'show', 'k.pub', '--json'])).json();
    expect(fromPrivate).toMatchObject({ type: 'private', alg: 'es256', kid });
    expect(fromPublic).toMatchObject({ type: 'public', alg: 'es256', kid });
    expect(fromPrivate.coseKey).toBe(fromPublic.coseKey);
    const cose = decodeCoseKey(Buffer.from(String(fromPublic.coseKey), 'hex'));
    expect(cose).toMatchObject({ kty: 'EC2', crv: 'P-256' });
    expect('d' in cose).toBe(false);
  });

  it('never prints private material of a KEK', async () => {
    await run(dir, ['keys', 'generate', '--alg', 'a128kw', '--out', 'c']);
    const secret = (await readFile(join(dir, 'c.kek'), 'utf8')).trim();
    const r = await run(dir, ['keys', 'show', 'c.kek']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/secret key-encryption key/);
    expect(r.stdout).not.toContain(secret);
  });

  it.each([
    [
      'a corrupted PEM',
      '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n',
      /invalid key .*bad\.pem/,
    ],
    ['text that is no key', 'hello', /neither a PEM key nor a 16\/32-byte hex KEK/],
  ])('rejects %s with CLI_KEY_INVALID', async (_name, content, pattern) => {
    await writeFile(join(dir, 'bad.pem'), content);
    const r = await run(dir, ['keys', 'show', 'bad.pem']);
    expect(r.code).toBe(EXIT_CODES.input);
    expect(r.stderr).toMatch(pattern);
    expect(r.stderr).toMatch(/\[CLI_KEY_INVALID\]\n$/);
    expect(r.stderr.split('\n')).toHaveLength(2);
  });

  it('rejects a missing file and a directory', async () => {
    const missing = await run(dir, ['keys', 'show', 'nope.pem', '--json']);
    expect(missing.code).toBe(EXIT_CODES.input);
    expect(missing.json()).toMatchObject({ error: { code: 'CLI_FILE_NOT_FOUND' } });
    const directory = await run(dir, ['keys', 'show', '.']);
    expect(directory.stderr).toMatch(/\[CLI_FILE_UNREADABLE\]/);
  });
});
