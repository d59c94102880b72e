import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerError } from '../../errors.js';
import { runBlobStoreContract } from '../../testing/blob-store.contract.js';
import { FsBlobStore, STALE_TEMP_MS } from './fs-blob-store.js';
import { Semaphore } from './semaphore.js';

const SEGMENT = 4096;
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

runBlobStoreContract('FsBlobStore', {
  blockSize: SEGMENT,
  create: async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-blobs-'));
    const store = new FsBlobStore({ dir, masterKey: randomBytes(32), segmentSize: SEGMENT });
    await store.init();
    return { store, dispose: () => rm(dir, { recursive: true, force: true }) };
  },
});

describe('FsBlobStore reads in 1 MiB batches of segments', () => {
  it('returns exact bytes for ranges within, across and at the edges of batches', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-blobs-'));
    try {
      for (const segmentSize of [SEGMENT, 1_048_576, 3_000_000]) {
        const store = new FsBlobStore({ dir, masterKey: randomBytes(32), segmentSize });
        await store.init();
        const data = randomBytes(2 * 1_048_576 + 700_007);
        const digest = sha256(data);
        await store.put(Readable.from([data]), { digest, size: data.length });
        const MiB = 1_048_576;
        const edges = [0, 1, MiB - 1, MiB, MiB + 1, 2 * MiB - 1, 2 * MiB, data.length - 1];
        for (const start of edges)
          for (const end of edges.filter((e) => e >= start)) {
            const got = await buffer(await store.read(digest, { start, end }));
            expect(got.equals(data.subarray(start, end + 1))).toBe(true);
          }
        expect((await buffer(await store.read(digest))).equals(data)).toBe(true);
        await store.delete(digest);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('FsBlobStore decryption bound', () => {
  it('decrypts at most its permits of batches at once, however many reads run', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-blobs-'));
    try {
      const decryptions = new Semaphore(2);
      const store = new FsBlobStore({ dir, masterKey: randomBytes(32), decryptions });
      await store.init();
      const data = randomBytes(3 * 1_048_576 + 17);
      const digest = sha256(data);
      await store.put(Readable.from([data]), { digest, size: data.length });
      // Eight downloads at once, whole and one-byte ranged ones, each several batches or one.
      const ranges = [undefined, undefined, undefined, { start: 5, end: 5 }];
      const reads = [...ranges, ...ranges].map(async (range) => {
        const got = await buffer(await store.read(digest, range));
        const want = range === undefined ? data : data.subarray(range.start, range.end + 1);
        expect(got.equals(want)).toBe(true);
      });
      await Promise.all(reads);
      // The reads did overlap (two held permits together) and never more than two did.
      expect(decryptions.peak).toBe(2);
      expect([decryptions.inUse, decryptions.waiting]).toEqual([0, 0]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('Semaphore', () => {
  it('hands permits out in arrival order and passes a released one to the next waiter', async () => {
    const semaphore = new Semaphore(1);
    const order: number[] = [];
    const first = await semaphore.acquire();
    const waiters = [1, 2].map((n) =>
      semaphore.acquire().then((release) => {
        order.push(n);
        return release;
      }),
    );
    expect(semaphore.waiting).toBe(2);
    first();
    (await waiters[0]!)();
    (await waiters[1]!)();
    expect(order).toEqual([1, 2]);
    expect([semaphore.inUse, semaphore.peak]).toEqual([0, 1]);
    expect(() => first()).toThrow();
  });
});

describe('FsBlobStore at rest', () => {
  let dir: string;
  let store: FsBlobStore;
  const masterKey = randomBytes(32);
  const data = Buffer.from('firmware-'.repeat(2000)); // 18,000 bytes: 5 segments
  const digest = sha256(data);
  const file = () => path.join(dir, 'objects', digest.slice(0, 2), digest);

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-blobs-'));
    store = new FsBlobStore({ dir, masterKey, segmentSize: SEGMENT });
    await store.init();
    await store.put(Readable.from([data]), { digest, size: data.length });
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('keeps no plaintext on disk', async () => {
    const stored = await readFile(file());
    expect(stored.includes(Buffer.from('firmware-firmware'))).toBe(false);
    expect(stored.length).toBe(80 + data.length + 5 * 16);
  });

  it('cannot be read with another master key', async () => {
    const other = new FsBlobStore({ dir, masterKey: randomBytes(32), segmentSize: SEGMENT });
    await expect(other.read(digest)).rejects.toMatchObject({ code: 'BLOB_CORRUPT' });
  });

  /** Runs `damage` on a fresh store holding `data`, with the path of its blob file. */
  async function withDamagedCopy(
    damage: (file: string) => Promise<void>,
    check: (copy: FsBlobStore) => Promise<void>,
  ) {
    const copyDir = await mkdtemp(path.join(os.tmpdir(), 'updraft-blobs-'));
    try {
      const copy = new FsBlobStore({ dir: copyDir, masterKey, segmentSize: SEGMENT });
      await copy.init();
      await copy.put(Readable.from([data]), { digest, size: data.length });
      await damage(path.join(copyDir, 'objects', digest.slice(0, 2), digest));
      await check(copy);
    } finally {
      await rm(copyDir, { recursive: true, force: true });
    }
  }
  const isCorrupt = (e: unknown) => e instanceof ServerError && e.code === 'BLOB_CORRUPT';

  it('reports a tampered segment as BLOB_CORRUPT, and still serves ranges in untouched segments', async () => {
    await withDamagedCopy(
      async (target) => {
        const handle = await open(target, 'r+');
        // Flip one byte inside segment 2's ciphertext.
        const at = 80 + 2 * (SEGMENT + 16) + 100;
        const one = Buffer.alloc(1);
        await handle.read(one, 0, 1, at);
        one[0] = (one[0] ?? 0) ^ 0x01;
        await handle.write(one, 0, 1, at);
        await handle.close();
      },
      async (copy) => {
        await expect(buffer(await copy.read(digest))).rejects.toSatisfy(isCorrupt);
        // A range that needs only segment 0 decrypts only segment 0.
        const range = await buffer(await copy.read(digest, { start: 10, end: 20 }));
        expect(range.equals(data.subarray(10, 21))).toBe(true);
      },
    );
  });

  it('detects a truncated blob file', async () => {
    await withDamagedCopy(
      async (target) => {
        const stored = await readFile(target);
        await writeFile(target, stored.subarray(0, stored.length - 20));
      },
      async (copy) => {
        await expect(buffer(await copy.read(digest))).rejects.toSatisfy(isCorrupt);
      },
    );
  });

  it('removes leftovers of interrupted writes on init, and never shows them', async () => {
    const leftover = path.join(dir, 'tmp', `${sha256(Buffer.from('partial'))}.deadbeef`);
    await writeFile(leftover, 'partial bytes of a write killed midway');
    const idle = new Date(Date.now() - STALE_TEMP_MS - 1000);
    await utimes(leftover, idle, idle);
    expect(await store.head(sha256(Buffer.from('partial')))).toBeUndefined();
    await store.init();
    expect(await readdir(path.join(dir, 'tmp'))).toEqual([]);
  });

  it('leaves a temp file alone that another replica sharing the directory is still writing', async () => {
    const live = path.join(dir, 'tmp', `${sha256(Buffer.from('live'))}.cafebabe`);
    await writeFile(live, 'a write under way in another process');
    await store.init();
    expect(await readdir(path.join(dir, 'tmp'))).toEqual([path.basename(live)]);
    await rm(live);
  });

  it('writes blob files with owner-only permissions', async () => {
    const handle = await open(file(), 'r');
    const mode = (await handle.stat()).mode & 0o777;
    await handle.close();
    expect(mode).toBe(0o600);
  });
});
