import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveKey, loadOrCreateMasterKey } from './master-key.js';

describe('master key', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-key-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('is generated once with mode 0600 and read back unchanged', async () => {
    const file = path.join(dir, 'sub', 'master.key');
    const first = await loadOrCreateMasterKey(file);
    expect(first.length).toBe(32);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await loadOrCreateMasterKey(file)).equals(first)).toBe(true);
  });

  it('yields one key when several processes start at once', async () => {
    const file = path.join(dir, 'race.key');
    const keys = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateMasterKey(file)));
    expect(new Set(keys.map((k) => k.toString('hex'))).size).toBe(1);
    expect(
      Buffer.from((await readFile(file, 'utf8')).trim(), 'base64').equals(keys[0] as Buffer),
    ).toBe(true);
  });

  it('refuses a key file of the wrong length with CONFIG_INVALID', async () => {
    const file = path.join(dir, 'short.key');
    await writeFile(file, Buffer.alloc(16).toString('base64'));
    await expect(loadOrCreateMasterKey(file)).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('derives distinct, stable keys per purpose', () => {
    const master = Buffer.alloc(32, 7);
    expect(deriveKey(master, 'download-url').equals(deriveKey(master, 'download-url'))).toBe(true);
    expect(deriveKey(master, 'download-url').equals(deriveKey(master, 'other'))).toBe(false);
    expect(deriveKey(master, 'download-url').equals(master)).toBe(false);
  });
});
