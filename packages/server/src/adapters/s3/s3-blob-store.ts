import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadBucketCommand,
  HeadObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { BugError } from '@updraft/core';
import { ServerError } from '../../errors.js';
import {
  assertBlobDigest,
  assertExpectedSize,
  type BlobInfo,
  type BlobStore,
  type ByteRange,
  blobNotFound,
  isSha256Hex,
  rangeWithin,
} from '../../ports/blob-store.js';
import type { ObjectStore, PresignedGetOptions } from '../../ports/object-store.js';
import { createS3Client, S3_KEYS, type S3Settings } from './s3-client.js';
import { isS3NotFound, s3Failure } from './s3-failure.js';

/** Options of {@link S3BlobStore}. */
export interface S3BlobStoreOptions {
  /** The `s3` configuration section (bucket, prefix, SSE, part size, timeout). */
  readonly settings: S3Settings;
  /**
   * The app's one S3 client (shared with the other S3 adapters). When absent the store creates
   * its own from `settings` and destroys it on `close`; an injected client is left open.
   */
  readonly client?: S3Client;
  /**
   * Parts in flight at once per `put`. Each part in flight is a buffer of `partSizeBytes` (plus
   * the one being filled), so memory per upload is about `(queueSize + 1) × partSizeBytes`.
   */
  readonly queueSize?: number;
}

/** S3's limit on the parts of one multipart upload. */
const MAX_PARTS = 10_000;
/** SigV4's limit on a pre-signed URL's lifetime (7 days). */
const MAX_PRESIGN_SECONDS = 604_800;

/**
 * Content-addressed blobs in an S3-compatible bucket, one object per blob under `blobs/<sha256>`
 * (S3_KEYS). Objects hold the plaintext, encrypted at rest by the object store (`s3.sse`: SSE-S3
 * or SSE-KMS on every write): devices then download them straight from the bucket (or a CDN)
 * through pre-signed URLs, which SSE-C would rule out (see docs, "Object storage").
 *
 * Writes are atomic as S3 makes them: a blob smaller than one part is one PutObject sent only
 * after its bytes were counted and hashed; a larger one is a multipart upload, invisible until
 * CompleteMultipartUpload, which is sent only after the last byte was verified — a mismatch or a
 * failing source aborts the upload instead, so nothing half-written ever becomes visible.
 *
 * @example
 * const store = new S3BlobStore({ settings: config.s3, client: createS3Client(config.s3) });
 * await store.init();
 * await store.put(Readable.from([bytes]), { digest, size: bytes.length });
 */
export class S3BlobStore implements BlobStore, ObjectStore {
  readonly client: S3Client;
  private readonly ownsClient: boolean;
  private readonly bucket: string;
  private readonly queueSize: number;
  private readonly sse: Record<string, string>;

  constructor(private readonly options: S3BlobStoreOptions) {
    const { settings } = options;
    if (settings.bucket === '') throw new BugError('S3BlobStore needs s3.bucket');
    this.client = options.client ?? createS3Client(settings);
    this.ownsClient = options.client === undefined;
    this.bucket = settings.bucket;
    this.queueSize = options.queueSize ?? 2;
    this.sse =
      settings.sse === 'none'
        ? {}
        : settings.sse === 'aws:kms'
          ? {
              ServerSideEncryption: 'aws:kms',
              ...(settings.kmsKeyId !== '' ? { SSEKMSKeyId: settings.kmsKeyId } : {}),
            }
          : { ServerSideEncryption: 'AES256' };
  }

  /**
   * Checks that the bucket answers. Never creates it: in production the bucket, its encryption
   * default, lifecycle rules and access policy are the operator's (docs, "Object storage").
   */
  async init(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      throw s3Failure(`to reach bucket ${this.bucket}`, error);
    }
  }

  async close(): Promise<void> {
    if (this.ownsClient) this.client.destroy();
  }

  /** HeadBucket, bounded by a fifth of `s3.timeoutMs` so /readyz answers quickly; never throws. */
  async ready(): Promise<boolean> {
    try {
      const abortSignal = AbortSignal.timeout(
        Math.max(1, Math.floor(this.options.settings.timeoutMs / 5)),
      );
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal });
      return true;
    } catch {
      return false;
    }
  }

  private keyOf(digest: string): string {
    // Only 64 lowercase hex characters ever become a key: nothing else reaches the bucket.
    assertBlobDigest(digest);
    return S3_KEYS.blob(this.options.settings.prefix, digest);
  }

  private async sizeOf(key: string, operation: string): Promise<number | undefined> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return head.ContentLength ?? 0;
    } catch (error) {
      if (isS3NotFound(error)) return undefined;
      throw s3Failure(operation, error);
    }
  }

  async put(source: Readable | AsyncIterable<Uint8Array>, expected: BlobInfo): Promise<BlobInfo> {
    const key = this.keyOf(expected.digest);
    assertExpectedSize(expected);
    let failure: unknown;
    const bytes = verified(source, expected, (error) => {
      failure = error;
    });
    const result = { digest: expected.digest, size: expected.size };
    // Content-addressed: an object under this digest already holds these bytes. Only check them
    // (the caller learns of a mismatch as with a fresh put); a stored object of another size is
    // not this content and is replaced below.
    if ((await this.sizeOf(key, 'put')) === expected.size) {
      for await (const _chunk of bytes);
      return result;
    }
    const partSize = Math.max(
      this.options.settings.partSizeBytes,
      Math.ceil(expected.size / MAX_PARTS),
    );
    const body = Readable.from(bytes, { objectMode: false, highWaterMark: 1_048_576 });
    // lib-storage cuts the body into parts and sends a part only once more than a part's bytes
    // arrived; the last (or only) part goes out only when the body ENDED — and `verified` throws
    // before it ends when the size or digest is wrong. So a bad small blob never reaches
    // PutObject and a bad large one never reaches CompleteMultipartUpload.
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ContentLength: expected.size,
        ContentType: 'application/octet-stream',
        ...this.sse,
      },
      partSize,
      queueSize: this.queueSize,
      // We abort ourselves: lib-storage's own abort, when it fails, replaces the original error.
      leavePartsOnError: true,
    });
    try {
      await upload.done();
      return result;
    } catch (error) {
      body.destroy();
      if (upload.uploadId !== undefined) await this.abortUpload(key, upload.uploadId);
      // The source's own error (or our mismatch) as it was; anything else is the bucket's.
      throw failure ?? s3Failure('put', error);
    }
  }

  /**
   * Drops the parts of a failed multipart upload. Best effort: when the bucket is unreachable
   * this fails too, and the bucket's lifecycle rule (AbortIncompleteMultipartUpload) removes
   * the parts later. They were never visible either way.
   */
  private async abortUpload(key: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(
        new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }),
      );
    } catch {
      // see above
    }
  }

  async head(digest: string): Promise<BlobInfo | undefined> {
    if (!isSha256Hex(digest)) return undefined;
    const size = await this.sizeOf(this.keyOf(digest), 'head');
    return size === undefined ? undefined : { digest, size };
  }

  async read(digest: string, range?: ByteRange): Promise<Readable> {
    const key = this.keyOf(digest);
    // The range is checked against the blob's size (BLOB_RANGE_INVALID as every store answers
    // it): a malformed range or one starting past the end costs a HEAD, a good one none.
    const checkAgainstSize = async (): Promise<never> => {
      const size = await this.sizeOf(key, 'read');
      if (size === undefined) throw blobNotFound(digest);
      rangeWithin(range, size);
      throw new BugError('S3 refused a range that fits the blob');
    };
    if (range !== undefined && !wellFormed(range)) await checkAgainstSize();
    let answer: GetObjectCommandOutput;
    try {
      answer = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }),
      );
    } catch (error) {
      if (isS3NotFound(error)) throw blobNotFound(digest);
      if (range !== undefined && isInvalidRange(error)) await checkAgainstSize();
      throw s3Failure('read', error);
    }
    const body = answer.Body as Readable | undefined;
    let skip = 0;
    let take: number;
    try {
      // What was served: `bytes a-b/total` on a 206; the whole object on a 200 (a server may
      // ignore Range, RFC 9110 §14.2) — and some serve more than asked. Cut to the asked bytes.
      const served = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(answer.ContentRange ?? '');
      const total = served ? Number(served[3]) : (answer.ContentLength ?? 0);
      const servedStart = served ? Number(served[1]) : 0;
      const servedEnd = served ? Number(served[2]) : total - 1;
      if (range === undefined) {
        take = total;
        if (served && (servedStart !== 0 || servedEnd !== total - 1))
          throw s3Failure('read', new Error('partial answer to a whole read'));
      } else {
        // S3 shortens a range that runs past the end; the store refuses it instead.
        const { start, end } = rangeWithin(range, total);
        if (servedStart > start || servedEnd < end)
          throw s3Failure('read', new Error('the asked range was not served'));
        skip = start - servedStart;
        take = end - start + 1;
      }
    } catch (error) {
      body?.destroy();
      throw error;
    }
    return Readable.from(checkedBody(body, digest, skip, take, range === undefined), {
      objectMode: false,
    });
  }

  async delete(digest: string): Promise<boolean> {
    const key = this.keyOf(digest);
    // DeleteObject answers 204 whether or not the key existed; HEAD first to say which.
    if ((await this.sizeOf(key, 'delete')) === undefined) return false;
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
      return true;
    } catch (error) {
      throw s3Failure('delete', error);
    }
  }

  /**
   * A pre-signed GET URL of a blob, valid until `expiresAt` (SigV4 allows at most 7 days; with
   * temporary credentials it dies with them). Signing is local: the blob is not looked up. The
   * same digest, `signingDate`, `expiresAt` and name give the same URL, so callers can sign per
   * time window and let a CDN or the device cache it. `fileName` becomes the download's
   * Content-Disposition.
   */
  async presignedGetUrl(digest: string, options: PresignedGetOptions): Promise<string> {
    const key = this.keyOf(digest);
    const signingDate = options.signingDate ?? new Date();
    const expiresIn = Math.floor((options.expiresAt.getTime() - signingDate.getTime()) / 1000);
    if (!(expiresIn >= 1 && expiresIn <= MAX_PRESIGN_SECONDS))
      throw new BugError(`pre-signed URL lifetime ${expiresIn} s is outside 1 s … 7 days`);
    return getSignedUrl(
      this.client,
      new GetObjectCommand({
        Bucket: this.bucket,
        Key: key,
        ...(options.fileName !== undefined
          ? { ResponseContentDisposition: contentDisposition(options.fileName) }
          : {}),
      }),
      { expiresIn, signingDate },
    );
  }
}

/**
 * The source's bytes, counted and hashed on the way through. Throws BLOB_SIZE_MISMATCH as soon as
 * there are too many, and BLOB_SIZE_MISMATCH / BLOB_DIGEST_MISMATCH at the end BEFORE finishing:
 * a consumer only ever sees a normal end of bytes that matched. `onFailure` hears the source's
 * errors and ours (not a consumer's early stop).
 */
async function* verified(
  source: Readable | AsyncIterable<Uint8Array>,
  expected: BlobInfo,
  onFailure: (error: unknown) => void,
): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  let received = 0;
  try {
    for await (const chunk of source as AsyncIterable<Uint8Array>) {
      const bytes = Buffer.isBuffer(chunk)
        ? chunk
        : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      received += bytes.length;
      if (received > expected.size) {
        throw new ServerError(
          'BLOB_SIZE_MISMATCH',
          `more than the expected ${expected.size} bytes`,
          {
            details: { expected: expected.size },
          },
        );
      }
      hash.update(bytes);
      yield bytes;
    }
    if (received !== expected.size) {
      throw new ServerError(
        'BLOB_SIZE_MISMATCH',
        `got ${received} bytes, expected ${expected.size}`,
        {
          details: { expected: expected.size, actual: received },
        },
      );
    }
    const actual = hash.digest('hex');
    if (actual !== expected.digest) {
      throw new ServerError(
        'BLOB_DIGEST_MISMATCH',
        `content hashes to ${actual}, expected ${expected.digest}`,
        { details: { expected: expected.digest, actual } },
      );
    }
  } catch (error) {
    onFailure(error);
    throw error;
  }
}

/**
 * The `take` bytes after the first `skip` of a GetObject body, checked on the way out: a cut
 * connection is BLOB_STORE_UNAVAILABLE, fewer bytes than announced likewise, and a whole read
 * whose bytes do not hash to the digest ends in BLOB_CORRUPT (the object was changed behind the
 * store's back) instead of a normal end.
 */
async function* checkedBody(
  body: Readable | undefined,
  digest: string,
  skip: number,
  take: number,
  whole: boolean,
): AsyncGenerator<Buffer> {
  const hash = whole ? createHash('sha256') : undefined;
  let toSkip = skip;
  let left = take;
  try {
    for await (const chunk of body ?? []) {
      let bytes = chunk as Buffer;
      if (toSkip > 0) {
        const skipped = Math.min(toSkip, bytes.length);
        toSkip -= skipped;
        bytes = bytes.subarray(skipped);
      }
      if (bytes.length > left) bytes = bytes.subarray(0, left);
      if (bytes.length === 0) {
        if (left === 0) break;
        continue;
      }
      left -= bytes.length;
      hash?.update(bytes);
      yield bytes;
      if (left === 0) break;
    }
  } catch (error) {
    throw s3Failure('read', error);
  } finally {
    // Stopping early (all bytes taken, or the reader went away) frees the connection.
    body?.destroy();
  }
  if (left !== 0) throw s3Failure('read', new Error(`got ${take - left} of ${take} bytes`));
  if (hash !== undefined && hash.digest('hex') !== digest)
    throw new ServerError('BLOB_CORRUPT', `blob ${digest} does not hash to its digest`, {
      details: { digest },
    });
}

function wellFormed(range: ByteRange): boolean {
  return (
    Number.isSafeInteger(range.start) &&
    Number.isSafeInteger(range.end) &&
    range.start >= 0 &&
    range.end >= range.start
  );
}

function isInvalidRange(error: unknown): boolean {
  const shape = (error ?? {}) as { name?: unknown; $metadata?: { httpStatusCode?: unknown } };
  return shape.name === 'InvalidRange' || shape.$metadata?.httpStatusCode === 416;
}

/** `attachment` with the name as ASCII fallback and RFC 6266/8187 UTF-8 form. */
function contentDisposition(fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]|["\\]/g, '_').slice(0, 200) || 'download';
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(fileName.slice(0, 200))}`;
}
