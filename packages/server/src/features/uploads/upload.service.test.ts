import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FsUploadStaging } from '../../adapters/fs/fs-upload-staging.js';
import { ensureTenant } from '../../tenants/tenant.repository.js';
import {
  describeEachDialect,
  openTestDatabase,
  type TestDatabase,
} from '../../testing/test-database.js';
import { importLegacyUploads } from './import-legacy-uploads.js';
import { advanceUploadOffset } from './upload.repository.js';
import { UploadService } from './upload.service.js';

const alice = { tenantId: 'ten_a', userId: 'usr_alice', isAdmin: false };
const bob = { tenantId: 'ten_a', userId: 'usr_bob', isAdmin: false };
const admin = { tenantId: 'ten_a', userId: 'usr_admin', isAdmin: true };
// Each test opens its sessions as a user of its own, so the per-user bound is the test's own.
let users = 0;
const someone = () => ({ tenantId: 'ten_a', userId: `usr_${users++}`, isAdmin: false });

describeEachDialect('UploadService', (dialect) => {
  let t: TestDatabase;
  let dir: string;
  let now = new Date('2026-01-01T00:00:00.000Z');
  let staging: FsUploadStaging;
  let uploads: UploadService;
  // Bytes staged for a session (its chunk files), 0 when it has none.
  const stagedBytes = async (id: string) => {
    const names = await readdir(path.join(dir, 'uploads', id)).catch(() => [] as string[]);
    let total = 0;
    for (const n of names) total += (await stat(path.join(dir, 'uploads', id, n))).size;
    return total;
  };
  beforeAll(async () => {
    t = await openTestDatabase(dialect);
    dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-uploads-'));
    staging = new FsUploadStaging(dir);
    await staging.init();
    uploads = new UploadService(
      t.handle.db,
      t.handle.support,
      staging,
      { maxUploadBytes: 1000, maxChunkBytes: 100, maxSessionsPerUser: 3, maxStagedBytes: 2500 },
      () => now,
    );
    await ensureTenant(t.handle.db, 'ten_a', 'a', now.toISOString());
  });
  afterAll(async () => {
    await t?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refuses a size over the limit and a chunk over the chunk limit, leaving no file', async () => {
    const me = someone();
    await expect(uploads.create(me, 1001)).rejects.toMatchObject({
      code: 'UPLOAD_TOO_LARGE',
    });
    const s = await uploads.create(me, 500);
    await expect(
      uploads.putChunk(me, s.id, 0, Readable.from([Buffer.alloc(101)])),
    ).rejects.toMatchObject({
      code: 'UPLOAD_TOO_LARGE',
    });
    expect((await uploads.get(me, s.id)).offset).toBe(0);
    // The refused chunk left nothing staged, nor in the spool.
    expect(await readdir(path.join(dir, 'uploads'))).not.toContain(s.id);
    expect(await readdir(path.join(dir, 'upload-spool'))).toEqual([]);
    // A later refused chunk leaves the acknowledged bytes as they were.
    await uploads.putChunk(me, s.id, 0, Readable.from([Buffer.alloc(60)]));
    await expect(
      uploads.putChunk(me, s.id, 60, Readable.from([Buffer.alloc(40), Buffer.alloc(70)])),
    ).rejects.toMatchObject({ code: 'UPLOAD_TOO_LARGE' });
    expect(await stagedBytes(s.id)).toBe(60);
    expect(await readdir(path.join(dir, 'upload-spool'))).toEqual([]);
    await uploads.remove(me, s.id);
  });

  it('keeps a session to its creator: another user can neither see, extend, use nor delete it; an admin may delete it', async () => {
    const s = await uploads.create(alice, 10);
    const refused = { code: 'RESOURCE_NOT_FOUND' };
    await expect(uploads.get(bob, s.id)).rejects.toMatchObject(refused);
    await expect(
      uploads.putChunk(bob, s.id, 0, Readable.from([Buffer.alloc(10, 7)])),
    ).rejects.toMatchObject(refused);
    await uploads.putChunk(alice, s.id, 0, Readable.from([Buffer.alloc(10, 1)]));
    await expect(uploads.digests(bob, s.id)).rejects.toMatchObject(refused);
    await expect(uploads.remove(bob, s.id)).rejects.toMatchObject(refused);
    expect((await uploads.digests(alice, s.id)).size).toBe(10);
    // An admin does not see the bytes either, but may clean up.
    await expect(uploads.get(admin, s.id)).rejects.toMatchObject(refused);
    await uploads.remove(admin, s.id);
    await expect(uploads.get(alice, s.id)).rejects.toMatchObject(refused);
    expect(await readdir(path.join(dir, 'uploads'))).not.toContain(s.id);
  });

  it('bounds the sessions per user and the bytes staged by all sessions', async () => {
    const me = someone();
    const mine = [];
    for (let i = 0; i < 3; i++) mine.push(await uploads.create(me, 10));
    await expect(uploads.create(me, 10)).rejects.toMatchObject({ code: 'UPLOAD_QUOTA_EXCEEDED' });
    // Another user is not held back by my sessions...
    const other = someone();
    const theirs = await uploads.create(other, 10);
    // ...but every session together may declare at most maxStagedBytes (2500): 40 bytes are
    // staged now, two more of 900 fit, a third does not.
    const big = [await uploads.create(other, 900), await uploads.create(someone(), 900)];
    await expect(uploads.create(someone(), 900)).rejects.toMatchObject({
      code: 'UPLOAD_QUOTA_EXCEEDED',
    });
    await uploads.remove(admin, big[0]!.id);
    await uploads.remove(admin, big[1]!.id);
    // Deleting one makes room again.
    await uploads.remove(me, mine[0]!.id);
    mine[0] = await uploads.create(me, 10);
    for (const s of mine) await uploads.remove(me, s.id);
    await uploads.remove(other, theirs.id);
  });

  it('serialises chunks of one session: a second chunk at the same offset is refused', async () => {
    const me = someone();
    const s = await uploads.create(me, 200);
    const results = await Promise.allSettled([
      uploads.putChunk(me, s.id, 0, Readable.from([Buffer.alloc(100, 1)])),
      uploads.putChunk(me, s.id, 0, Readable.from([Buffer.alloc(100, 2)])),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect((await uploads.get(me, s.id)).offset).toBe(100);
    // The acknowledged chunk's bytes are the ones staged, whole.
    const won = Buffer.alloc(100, results[0]!.status === 'fulfilled' ? 1 : 2);
    await uploads.putChunk(me, s.id, 100, Readable.from([Buffer.alloc(100, 3)]));
    const expected = createHash('sha256')
      .update(Buffer.concat([won, Buffer.alloc(100, 3)]))
      .digest('hex');
    expect((await uploads.digests(me, s.id)).sha256).toBe(expected);
    await uploads.remove(me, s.id);
  });

  it('expires sessions untouched for longer than the limit, with their files', async () => {
    const me = someone();
    const old = await uploads.create(me, 10);
    await uploads.putChunk(me, old.id, 0, Readable.from([Buffer.alloc(5)]));
    now = new Date('2026-01-03T00:00:00.000Z');
    const fresh = await uploads.create(me, 10);
    await uploads.putChunk(me, fresh.id, 0, Readable.from([Buffer.alloc(5)]));
    expect(await uploads.expireStale(24 * 3_600_000)).toBeGreaterThanOrEqual(1);
    await expect(uploads.get(me, old.id)).rejects.toMatchObject({
      code: 'RESOURCE_NOT_FOUND',
    });
    expect(await stagedBytes(old.id)).toBe(0);
    expect((await uploads.get(me, fresh.id)).offset).toBe(5);
    expect(await stagedBytes(fresh.id)).toBe(5);
  });

  it('removes chunks no session names (a crash between row and chunks)', async () => {
    const orphan = await staging.receive(
      'upl_orphanorphanorphan',
      Readable.from([Buffer.alloc(3)]),
      10,
    );
    await orphan.place(0);
    expect(await uploads.sweepOrphans()).toBe(1);
    expect(await stagedBytes('upl_orphanorphanorphan')).toBe(0);
  });

  it('moves a session an older version staged in <dataDir>/uploads/<id>.part into the staging', async () => {
    const me = someone();
    const s = await uploads.create(me, 8);
    // The old layout: one local file, 5 bytes acknowledged, 2 more written before a crash.
    const legacy = path.join(dir, 'legacy-uploads');
    await mkdir(legacy);
    await writeFile(path.join(legacy, `${s.id}.part`), Buffer.from('hello!!'));
    await writeFile(path.join(legacy, 'upl_goneawaygoneaway0.part'), Buffer.from('x'));
    await advanceUploadOffset(t.handle.db, 'ten_a', s.id, 0, 5, now.toISOString());
    const errors: unknown[] = [];
    expect(await importLegacyUploads(legacy, uploads, new Set(), (e) => errors.push(e))).toBe(1);
    expect(errors).toEqual([]);
    await expect(stat(legacy)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await stagedBytes(s.id)).toBe(5);
    // The upload continues where it was acknowledged and completes with the right bytes.
    await uploads.putChunk(me, s.id, 5, Readable.from([Buffer.from('abc')]));
    const expected = createHash('sha256').update('helloabc').digest('hex');
    expect((await uploads.digests(me, s.id)).sha256).toBe(expected);
    await uploads.remove(me, s.id);
  });
});
