import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChunkFile } from './chunk-file.js';

const id = 'upl_abcdefghijklmnop';
let dir: string;
let files: ChunkFile;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'updraft-chunks-'));
  files = new ChunkFile(join(dir, 'uploads'));
  await files.init();
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function body(...parts: string[]): Readable {
  return Readable.from(parts.map((p) => Buffer.from(p)));
}

describe('ChunkFile', () => {
  it('appends chunks and hashes the whole payload', async () => {
    expect(await files.append(id, 0, body('hello ', 'wor'), 100)).toBe(9);
    expect(await files.append(id, 9, body('ld'), 100)).toBe(11);
    const d = await files.digests(id, 11);
    expect(d.sha256).toBe(createHash('sha256').update('hello world').digest('hex'));
    expect(d.sha1).toBe(createHash('sha1').update('hello world').digest('hex'));
    expect(d.md5).toBe(createHash('md5').update('hello world').digest('hex'));
  });

  it('drops bytes past the acknowledged offset left by a crash', async () => {
    await files.append(id, 0, body('abc'), 100);
    // A crash after writing "XYZ" but before the database acknowledged it.
    await writeFile(files.path(id), 'abcXYZ');
    expect(await files.size(id)).toBe(6);
    expect(await files.append(id, 3, body('def'), 100)).toBe(6);
    expect((await files.digests(id, 6)).sha256).toBe(
      createHash('sha256').update('abcdef').digest('hex'),
    );
  });

  it('refuses a chunk longer than allowed', async () => {
    await expect(files.append(id, 0, body('0123456789'), 4)).rejects.toMatchObject({
      code: 'UPLOAD_TOO_LARGE',
    });
  });

  it('reports an incomplete upload', async () => {
    await files.append(id, 0, body('abc'), 100);
    await expect(files.digests(id, 10)).rejects.toMatchObject({ code: 'UPLOAD_INCOMPLETE' });
  });

  it('refuses session ids that could name another path', () => {
    for (const bad of ['../etc/passwd', 'upl_../../x', 'upl_short', '']) {
      expect(() => files.path(bad)).toThrow();
    }
  });

  it('removes a session file', async () => {
    await files.append(id, 0, body('abc'), 100);
    await files.remove(id);
    expect(await files.size(id)).toBe(0);
    await files.remove(id);
  });
});
