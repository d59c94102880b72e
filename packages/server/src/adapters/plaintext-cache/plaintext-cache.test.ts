import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerError } from '../../errors.js';
import type { BlobStore, ByteRange } from '../../ports/blob-store.js';
import { runBlobStoreContract } from '../../testing/blob-store.contract.js';
import { FsBlobStore } from '../fs/fs-blob-store.js';
import { PlaintextCachingBlobStore } from './plaintext-cache.js';

const SEGMENT = 4096;
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

runBlobStoreContract('PlaintextCachingBlobStore over FsBlobStore', {
  blockSize: SEGMENT,
  create: async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-blobs-'));
    const inner = new FsBlobStore({ dir, masterKey: randomBytes(32), segmentSize: SEGMENT });
    const store = new PlaintextCachingBlobStore(inner, 1_048_576);
    await store.init();
    return { store, dispose: () => rm(dir, { recursive: true, force: true }) };
  },
});

describe('PlaintextCachingBlobStore', () => {
  let dir: string;
  let inner: FsBlobStore;
  let reads: number;
  let store: PlaintextCachingBlobStore;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-blobs-'));
    inner = new FsBlobStore({ dir, masterKey: randomBytes(32), segmentSize: SEGMENT });
    await inner.init();
    // Counts the reads that reach the encrypted store.
    const counting: BlobStore = Object.create(inner, {
      read: {
        value: (digest: string, range?: ByteRange) => {
          reads++;
          return inner.read(digest, range);
        },
      },
    });
    store = new PlaintextCachingBlobStore(counting, 400_000);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const add = async (size: number) => {
    const data = randomBytes(size);
    const digest = sha256(data);
    await store.put(Readable.from([data]), { digest, size });
    return { data, digest };
  };

  it('fills on a ranged miss: concurrent one-byte and tail reads decrypt the blob once', async () => {
    const { data, digest } = await add(70_000);
    reads = 0;
    const fills = store.rangeFills;
    const ranges = [
      { start: 0, end: 0 },
      { start: 69_999, end: 69_999 },
      { start: 100, end: 199 },
      { start: 40_000, end: 69_999 },
    ];
    const got = await Promise.all(ranges.map(async (r) => buffer(await store.read(digest, r))));
    for (const [i, r] of ranges.entries())
      expect(got[i]!.equals(data.subarray(r.start, r.end + 1))).toBe(true);
    // One whole read reached the encrypted store, for all four, and the blob is kept.
    expect(reads).toBe(1);
    expect(store.rangeFills - fills).toBe(1);
    expect(store.bytes).toBe(70_000);
    const hits = store.hits;
    for (let i = 0; i < 20; i++) await buffer(await store.read(digest, { start: i, end: i }));
    expect(reads).toBe(1);
    expect(store.hits - hits).toBe(20);
    expect(await store.delete(digest)).toBe(true);
  });

  it('keeps what a whole read streamed, then serves reads and ranges from memory', async () => {
    const { data, digest } = await add(50_000);
    reads = 0;
    const [hits, misses] = [store.hits, store.misses];
    // Two concurrent whole reads (one as an explicit full range, as HTTP sends it): one keeps the
    // blob, the other just streams.
    const both = await Promise.all([
      store.read(digest).then(buffer),
      store.read(digest, { start: 0, end: data.length - 1 }).then(buffer),
    ]);
    for (const got of both) expect(got.equals(data)).toBe(true);
    expect(store.bytes).toBe(50_000);
    expect(reads).toBe(2);
    const all = await Promise.all(
      Array.from({ length: 5 }, async () => buffer(await store.read(digest))),
    );
    for (const got of all) expect(got.equals(data)).toBe(true);
    const part = await buffer(await store.read(digest, { start: 4095, end: 12_288 }));
    expect(part.equals(data.subarray(4095, 12_289))).toBe(true);
    expect(reads).toBe(2);
    expect([store.hits - hits, store.misses - misses]).toEqual([6, 2]);
    await expect(store.read(digest, { start: 10, end: 50_000 })).rejects.toMatchObject({
      code: 'BLOB_RANGE_INVALID',
    });
  });

  it('keeps nothing from a read abandoned midway', async () => {
    const { digest } = await add(60_000);
    const before = store.bytes;
    const stream = await store.read(digest);
    for await (const _chunk of stream) break; // the client went away
    expect(store.bytes).toBe(before);
  });

  it('keeps at most its budget, least recently read first; never a blob over a quarter of it', async () => {
    const a = await add(90_000);
    const b = await add(90_000);
    const c = await add(90_000);
    const big = await add(100_001); // over 400,000 / 4
    for (const x of [a, b, c, a]) await buffer(await store.read(x.digest));
    const d = await add(90_000);
    await buffer(await store.read(d.digest));
    expect(store.bytes).toBeLessThanOrEqual(400_000);
    reads = 0;
    await buffer(await store.read(a.digest)); // read recently: kept
    expect(reads).toBe(0);
    await buffer(await store.read(big.digest));
    await buffer(await store.read(big.digest));
    expect(reads).toBe(2); // never kept
  });

  it('drops a deleted blob, and keeps nothing it could not verify', async () => {
    const { digest } = await add(20_000);
    await buffer(await store.read(digest));
    expect(await store.delete(digest)).toBe(true);
    await expect(store.read(digest)).rejects.toMatchObject({ code: 'BLOB_NOT_FOUND' });

    const tampered = await add(30_000);
    const file = path.join(dir, 'objects', tampered.digest.slice(0, 2), tampered.digest);
    const handle = await open(file, 'r+');
    await handle.write(Buffer.from([0xff]), 0, 1, 200);
    await handle.close();
    const before = store.bytes;
    const error = await store
      .read(tampered.digest)
      .then(
        (stream) => buffer(stream).then(() => undefined),
        (e: unknown) => e,
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServerError);
    expect((error as ServerError).code).toBe('BLOB_CORRUPT');
    expect(store.bytes).toBe(before);
  });
});

describe('PlaintextCachingBlobStore keeping a blob of several chunks', () => {
  it('keeps the chunks the first read streamed (no copy) and serves any range across them', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-blobs-'));
    try {
      // 64 KiB segments: the store streams 1 MiB batches, so 3.5 MiB arrive as four chunks.
      const inner = new FsBlobStore({ dir, masterKey: randomBytes(32), segmentSize: 65_536 });
      const store = new PlaintextCachingBlobStore(inner, 16 * 1_048_576);
      await store.init();
      const data = randomBytes(3 * 1_048_576 + 524_288);
      const digest = sha256(data);
      await store.put(Readable.from([data]), { digest, size: data.length });
      const streamed: Buffer[] = [];
      for await (const chunk of await store.read(digest)) streamed.push(chunk as Buffer);
      expect(streamed.length).toBe(4);
      expect(Buffer.concat(streamed).equals(data)).toBe(true);
      expect(store.bytes).toBe(data.length);
      // Served from the very memory that was streamed: the cache copied nothing.
      const served: Buffer[] = [];
      for await (const chunk of await store.read(digest)) served.push(chunk as Buffer);
      expect(served.map((c) => c.buffer)).toEqual(streamed.map((c) => c.buffer));
      expect(store.hits).toBe(1);
      const MiB = 1_048_576;
      const edges = [0, 1, MiB - 1, MiB, MiB + 1, 3 * MiB, data.length - 1];
      for (const start of edges)
        for (const end of edges.filter((e) => e >= start)) {
          const got = await buffer(await store.read(digest, { start, end }));
          expect(got.equals(data.subarray(start, end + 1))).toBe(true);
        }
      expect(store.misses).toBe(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
