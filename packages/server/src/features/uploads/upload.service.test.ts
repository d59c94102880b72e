import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ensureTenant } from '../../tenants/tenant.repository.js';
import {
  describeEachDialect,
  openTestDatabase,
  type TestDatabase,
} from '../../testing/test-database.js';
import { ChunkFile } from './chunk-file.js';
import { UploadService } from './upload.service.js';

describeEachDialect('UploadService', (dialect) => {
  let t: TestDatabase;
  let dir: string;
  let now = new Date('2026-01-01T00:00:00.000Z');
  let files: ChunkFile;
  let uploads: UploadService;
  beforeAll(async () => {
    t = await openTestDatabase(dialect);
    dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-uploads-'));
    files = new ChunkFile(dir);
    await files.init();
    uploads = new UploadService(
      t.handle.db,
      files,
      { maxUploadBytes: 1000, maxChunkBytes: 100 },
      () => now,
    );
    await ensureTenant(t.handle.db, 'ten_a', 'a', now.toISOString());
  });
  afterAll(async () => {
    await t?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refuses a size over the limit and a chunk over the chunk limit', async () => {
    await expect(uploads.create('ten_a', 1001, null)).rejects.toMatchObject({
      code: 'UPLOAD_TOO_LARGE',
    });
    const s = await uploads.create('ten_a', 500, null);
    await expect(
      uploads.putChunk('ten_a', s.id, 0, Readable.from([Buffer.alloc(101)])),
    ).rejects.toMatchObject({
      code: 'UPLOAD_TOO_LARGE',
    });
    expect((await uploads.get('ten_a', s.id)).offset).toBe(0);
  });

  it('serialises chunks of one session: a second chunk at the same offset is refused', async () => {
    const s = await uploads.create('ten_a', 200, null);
    const results = await Promise.allSettled([
      uploads.putChunk('ten_a', s.id, 0, Readable.from([Buffer.alloc(100, 1)])),
      uploads.putChunk('ten_a', s.id, 0, Readable.from([Buffer.alloc(100, 2)])),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect((await uploads.get('ten_a', s.id)).offset).toBe(100);
  });

  it('expires sessions untouched for longer than the limit, with their files', async () => {
    const old = await uploads.create('ten_a', 10, null);
    await uploads.putChunk('ten_a', old.id, 0, Readable.from([Buffer.alloc(5)]));
    now = new Date('2026-01-03T00:00:00.000Z');
    const fresh = await uploads.create('ten_a', 10, null);
    await uploads.putChunk('ten_a', fresh.id, 0, Readable.from([Buffer.alloc(5)]));
    expect(await uploads.expireStale(24 * 3_600_000)).toBeGreaterThanOrEqual(1);
    await expect(uploads.get('ten_a', old.id)).rejects.toMatchObject({
      code: 'RESOURCE_NOT_FOUND',
    });
    expect(await files.size(old.id)).toBe(0);
    expect((await uploads.get('ten_a', fresh.id)).offset).toBe(5);
    expect(await files.size(fresh.id)).toBe(5);
  });

  it('removes files no session names (a crash between row and file)', async () => {
    await files.append('upl_orphanorphanorphan', 0, Readable.from([Buffer.alloc(3)]), 10);
    expect(await uploads.sweepOrphans()).toBe(1);
    expect(await files.size('upl_orphanorphanorphan')).toBe(0);
  });
});
