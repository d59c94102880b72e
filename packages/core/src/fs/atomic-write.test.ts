import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAtomicFile } from './atomic-file.js';
import { atomicWriteFile } from './atomic-write.js';
import { syncDirectory } from './sync-directory.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'atomic-write-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const modeOf = (path: string) => statSync(path).mode & 0o777;
const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (e: unknown) => e,
  );

describe('atomicWriteFile', () => {
  it('replaces the file with the new content and leaves no temp file', async () => {
    const path = join(dir, 'state.json');
    writeFileSync(path, 'old');
    await atomicWriteFile(path, 'new content');
    expect(readFileSync(path, 'utf8')).toBe('new content');
    expect(readdirSync(dir)).toEqual(['state.json']);
  });

  it('creates the file 0600 unless told otherwise, and with the given mode', async () => {
    const umask = process.umask(0);
    try {
      await atomicWriteFile(join(dir, 'private'), new Uint8Array([1, 2, 3]));
      await atomicWriteFile(join(dir, 'public'), 'x', { mode: 0o644 });
    } finally {
      process.umask(umask);
    }
    expect(modeOf(join(dir, 'private'))).toBe(0o600);
    expect(modeOf(join(dir, 'public'))).toBe(0o644);
    expect(readFileSync(join(dir, 'private'))).toEqual(Buffer.from([1, 2, 3]));
  });

  it('refuses to replace an existing file when exclusive (EEXIST), keeping it and no temp file', async () => {
    const path = join(dir, 'key.pem');
    writeFileSync(path, 'first');
    const error = await rejection(atomicWriteFile(path, 'second', { exclusive: true }));
    expect(error).toMatchObject({ code: 'EEXIST' });
    expect(readFileSync(path, 'utf8')).toBe('first');
    expect(readdirSync(dir)).toEqual(['key.pem']);
    await atomicWriteFile(join(dir, 'fresh.pem'), 'made', { exclusive: true });
    expect(readFileSync(join(dir, 'fresh.pem'), 'utf8')).toBe('made');
  });

  it('leaves the old file and no temp file when the move fails', async () => {
    // A directory in the way: the rename fails after the temp file was written and synced.
    const path = join(dir, 'target');
    mkdirSync(join(path, 'inside'), { recursive: true });
    const error = await rejection(atomicWriteFile(path, 'data'));
    expect(error).toMatchObject({ code: expect.stringMatching(/^E(ISDIR|NOTEMPTY|EXIST)$/) });
    expect(readdirSync(dir)).toEqual(['target']);
    expect(readdirSync(path)).toEqual(['inside']);
  });

  it('fails when the directory does not exist (nothing created)', async () => {
    const error = await rejection(atomicWriteFile(join(dir, 'missing', 'file'), 'x'));
    expect(error).toMatchObject({ code: 'ENOENT' });
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('createAtomicFile', () => {
  it('shows nothing at the path until commit, then the whole stream', async () => {
    const path = join(dir, 'image.bin');
    const out = createAtomicFile(path, { mode: 0o640 });
    await pipeline(Readable.from([Buffer.from('abc'), Buffer.from('def')]), out.stream);
    expect(readdirSync(dir).filter((f) => f === 'image.bin')).toEqual([]);
    await out.commit();
    expect(readFileSync(path, 'utf8')).toBe('abcdef');
    expect(readdirSync(dir)).toEqual(['image.bin']);
  });

  it('abort removes the temp file and keeps the old file', async () => {
    const path = join(dir, 'image.bin');
    writeFileSync(path, 'old');
    const out = createAtomicFile(path);
    out.stream.write('partial');
    await out.abort();
    expect(readFileSync(path, 'utf8')).toBe('old');
    expect(readdirSync(dir)).toEqual(['image.bin']);
  });

  it('exclusive commit refuses an existing file (EEXIST) and removes its temp file', async () => {
    const path = join(dir, 'out.bin');
    writeFileSync(path, 'there');
    const out = createAtomicFile(path, { exclusive: true });
    await pipeline(Readable.from([Buffer.from('new')]), out.stream);
    expect(await rejection(out.commit())).toMatchObject({ code: 'EEXIST' });
    expect(readFileSync(path, 'utf8')).toBe('there');
    expect(readdirSync(dir)).toEqual(['out.bin']);
  });
});

describe('syncDirectory', () => {
  it('syncs an existing directory and reports a missing one', async () => {
    await expect(syncDirectory(dir)).resolves.toBeUndefined();
    expect(await rejection(syncDirectory(join(dir, 'nope')))).toMatchObject({ code: 'ENOENT' });
  });
});
