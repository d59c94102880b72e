import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlobStore } from '../ports/blob-store.js';
import { chunked, codeOf, sha256 } from './blob-test-helpers.js';

/** How the contract suite gets a fresh, initialised store, and disposes of it. */
export interface BlobStoreContractOptions {
  create(): Promise<{ store: BlobStore; dispose(): Promise<void> }>;
  /** Segment or part size of the implementation, to test ranges around its boundaries. */
  readonly blockSize: number;
}

/**
 * The behaviour every {@link BlobStore} must show. Each implementation's test file calls this.
 *
 * @example
 * runBlobStoreContract('FsBlobStore', { blockSize: 4096, create: async () => … });
 */
export function runBlobStoreContract(name: string, options: BlobStoreContractOptions): void {
  describe(`BlobStore contract: ${name}`, () => {
    let store: BlobStore;
    let dispose: () => Promise<void>;
    const block = options.blockSize;
    beforeAll(async () => {
      ({ store, dispose } = await options.create());
    });
    afterAll(() => dispose?.());

    it('stores bytes under their digest and reads them back whole', async () => {
      const data = randomBytes(block * 3 + 17);
      const digest = sha256(data);
      expect(await store.put(chunked(data, 1000), { digest, size: data.length })).toEqual({
        digest,
        size: data.length,
      });
      expect(await store.head(digest)).toEqual({ digest, size: data.length });
      expect((await buffer(await store.read(digest))).equals(data)).toBe(true);
    });

    it('stores an empty blob', async () => {
      const data = Buffer.alloc(0);
      const digest = sha256(data);
      await store.put(Readable.from([]), { digest, size: 0 });
      expect(await store.head(digest)).toEqual({ digest, size: 0 });
      expect((await buffer(await store.read(digest))).length).toBe(0);
    });

    it('serves any inclusive byte range, including across block boundaries', async () => {
      const data = randomBytes(block * 4 + 5);
      const digest = sha256(data);
      await store.put(chunked(data, block - 3), { digest, size: data.length });
      const edges = [0, 1, block - 1, block, block + 1, 2 * block, data.length - 1];
      for (const start of edges) {
        for (const end of edges.filter((e) => e >= start)) {
          const got = await buffer(await store.read(digest, { start, end }));
          expect(got.equals(data.subarray(start, end + 1))).toBe(true);
        }
      }
      await fc.assert(
        fc.asyncProperty(fc.nat(data.length - 1), fc.nat(data.length - 1), async (a, b) => {
          const [start, end] = a <= b ? [a, b] : [b, a];
          const got = await buffer(await store.read(digest, { start, end }));
          expect(got.equals(data.subarray(start, end + 1))).toBe(true);
        }),
        { numRuns: 60 },
      );
    });

    it('rejects a range outside the blob with BLOB_RANGE_INVALID', async () => {
      const data = randomBytes(100);
      const digest = sha256(data);
      await store.put(Readable.from([data]), { digest, size: 100 });
      expect(await codeOf(store.read(digest, { start: 50, end: 100 }))).toBe('BLOB_RANGE_INVALID');
      expect(await codeOf(store.read(digest, { start: 60, end: 50 }))).toBe('BLOB_RANGE_INVALID');
      expect(await codeOf(store.read(digest, { start: -1, end: 5 }))).toBe('BLOB_RANGE_INVALID');
    });

    it('refuses bytes that do not match the expected digest, and stores nothing', async () => {
      const data = randomBytes(block + 10);
      const wrong = sha256(Buffer.from('something else'));
      expect(
        await codeOf(store.put(chunked(data, 999), { digest: wrong, size: data.length })),
      ).toBe('BLOB_DIGEST_MISMATCH');
      expect(await store.head(wrong)).toBeUndefined();
    });

    it('refuses too few or too many bytes, and stores nothing', async () => {
      const data = randomBytes(block + 10);
      const digest = sha256(data);
      expect(
        await codeOf(store.put(Readable.from([data]), { digest, size: data.length + 1 })),
      ).toBe('BLOB_SIZE_MISMATCH');
      expect(
        await codeOf(store.put(Readable.from([data]), { digest, size: data.length - 1 })),
      ).toBe('BLOB_SIZE_MISMATCH');
      expect(await store.head(digest)).toBeUndefined();
    });

    it('leaves nothing visible when the source fails midway', async () => {
      const data = randomBytes(block * 2);
      const digest = sha256(data);
      async function* failing() {
        yield data.subarray(0, block + 1);
        throw new Error('connection reset');
      }
      await expect(store.put(failing(), { digest, size: data.length })).rejects.toThrow(
        'connection reset',
      );
      expect(await store.head(digest)).toBeUndefined();
      expect(await codeOf(store.read(digest))).toBe('BLOB_NOT_FOUND');
    });

    it('treats a second put of the same content as a no-op, also concurrently', async () => {
      const data = randomBytes(block * 2 + 1);
      const digest = sha256(data);
      await Promise.all(
        [1, 2, 3].map(() => store.put(chunked(data, 4096), { digest, size: data.length })),
      );
      expect((await buffer(await store.read(digest))).equals(data)).toBe(true);
    });

    it('answers BLOB_NOT_FOUND and undefined for absent or malformed digests', async () => {
      const absent = sha256(randomBytes(8));
      expect(await store.head(absent)).toBeUndefined();
      expect(await store.head('../../etc/passwd')).toBeUndefined();
      expect(await codeOf(store.read(absent))).toBe('BLOB_NOT_FOUND');
      expect(await codeOf(store.read('../x'))).toBe('BLOB_NOT_FOUND');
    });

    it('deletes a blob', async () => {
      const data = randomBytes(10);
      const digest = sha256(data);
      await store.put(Readable.from([data]), { digest, size: 10 });
      expect(await store.delete(digest)).toBe(true);
      expect(await store.head(digest)).toBeUndefined();
      expect(await store.delete(digest)).toBe(false);
    });

    it('reports itself ready', async () => {
      expect(await store.ready()).toBe(true);
    });
  });
}
