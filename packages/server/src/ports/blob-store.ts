import type { Readable } from 'node:stream';
import { ServerError } from '../errors.js';

/** What a stored blob is: its SHA-256 (lowercase hex) and plaintext size in bytes. */
export interface BlobInfo {
  readonly digest: string;
  readonly size: number;
}

/** An inclusive byte range of a blob's plaintext, as HTTP Range names it. */
export interface ByteRange {
  readonly start: number;
  /** Inclusive. */
  readonly end: number;
}

/**
 * Content-addressed storage of payloads, keyed by SHA-256 of the plaintext. Implementations encrypt
 * at rest and make writes atomic: a blob is either wholly visible under its digest or not at all.
 * One contract suite (`runBlobStoreContract`) checks every implementation.
 */
export interface BlobStore {
  /** Prepares the backend (directories, buckets). */
  init(): Promise<void>;
  close(): Promise<void>;
  /**
   * Stores the bytes of `source`. They must hash to `expected.digest` and count `expected.size`
   * bytes, else `BLOB_DIGEST_MISMATCH` / `BLOB_SIZE_MISMATCH` and nothing becomes visible. Storing a
   * digest that already exists is a no-op that still checks the bytes.
   */
  put(source: Readable | AsyncIterable<Uint8Array>, expected: BlobInfo): Promise<BlobInfo>;
  /** Size of a stored blob, or `undefined` when absent. */
  head(digest: string): Promise<BlobInfo | undefined>;
  /**
   * Streams the plaintext (or one inclusive range of it). Reads only the stored parts the range
   * needs. Tampered data surfaces as a `BLOB_CORRUPT` stream error; an absent blob as
   * `BLOB_NOT_FOUND`; a range outside the blob as `BLOB_RANGE_INVALID`.
   */
  read(digest: string, range?: ByteRange): Promise<Readable>;
  /** Removes a blob; false when it was not there. */
  delete(digest: string): Promise<boolean>;
  /** True when the backend can serve requests (for /readyz). */
  ready(): Promise<boolean>;
}

/** True for a lowercase hex SHA-256 digest (also the only shape a blob key may take). */
export function isSha256Hex(value: unknown): value is string {
  return typeof value === 'string' && /^[0-9a-f]{64}$/.test(value);
}

/**
 * Refuses anything but a lowercase hex SHA-256 digest as `BLOB_NOT_FOUND` (no blob is stored
 * under another name). Adapters check a digest here before it becomes a path or an object key.
 */
export function assertBlobDigest(digest: string): void {
  if (!isSha256Hex(digest))
    throw new ServerError('BLOB_NOT_FOUND', 'not a SHA-256 digest', {
      details: { digest: String(digest).slice(0, 80) },
    });
}

/** `BLOB_NOT_FOUND` for a well-formed digest the store does not hold. */
export function blobNotFound(digest: string): ServerError {
  return new ServerError('BLOB_NOT_FOUND', `no blob ${digest}`, { details: { digest } });
}

/** Refuses an expected size that no blob can have (`BLOB_SIZE_MISMATCH`) before a `put` reads. */
export function assertExpectedSize(expected: BlobInfo): void {
  if (!Number.isSafeInteger(expected.size) || expected.size < 0) {
    throw new ServerError('BLOB_SIZE_MISMATCH', 'expected size must be a non-negative integer');
  }
}

/**
 * The inclusive range a read covers (the whole blob when none is given); `BLOB_RANGE_INVALID`
 * unless `0 ≤ start ≤ end < size`. Every adapter checks ranges the same way.
 */
export function rangeWithin(range: ByteRange | undefined, size: number): ByteRange {
  const start = range?.start ?? 0;
  const end = range?.end ?? size - 1;
  if (
    range &&
    (!Number.isSafeInteger(start) ||
      !Number.isSafeInteger(end) ||
      start < 0 ||
      end < start ||
      end >= size)
  ) {
    throw new ServerError(
      'BLOB_RANGE_INVALID',
      `range ${start}-${end} is outside a blob of ${size} bytes`,
      { details: { size } },
    );
  }
  return { start, end };
}
