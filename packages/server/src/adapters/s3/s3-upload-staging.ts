import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ServerError } from '../../errors.js';
import {
  checkSessionId,
  chunkChain,
  chunkName,
  chunkOffset,
  isSessionId,
  type ReceivedChunk,
  type UploadStaging,
} from '../../ports/upload-staging.js';
import { removeIdleFiles } from '../fs/remove-idle-files.js';
import { spoolChunk } from '../fs/spool-chunk.js';
import { S3_KEYS, type S3Settings } from './s3-client.js';
import { isS3NotFound, s3Failure } from './s3-failure.js';

/** What {@link S3UploadStaging} needs. */
export interface S3UploadStagingOptions {
  /** The app's S3 client (`createS3Client`). */
  readonly client: S3Client;
  /** Destroy the client on `close()` (true when it was made for this staging alone). */
  readonly ownsClient?: boolean;
  readonly settings: Pick<S3Settings, 'bucket' | 'prefix' | 'sse' | 'kmsKeyId'>;
  /**
   * A directory of this process's own (under `dataDir`) where a chunk waits while the client
   * sends it; never session state: a chunk is in the bucket before it is acknowledged.
   */
  readonly spoolDir: string;
}

/**
 * Upload sessions staged in the S3 bucket, so any replica continues an upload another started:
 * each acknowledged chunk is one object `uploads/<session>/<offset>` (zero-padded). A retried
 * chunk at the same offset overwrites the same key; objects off the chain from 0 to `received`
 * are ignored, and go with the session. Not S3 multipart parts: a part other than the last must
 * be ≥ 5 MiB (clients send 1 MiB chunks) and a part list cannot be rewritten at an offset.
 *
 * A chunk is first spooled to the local disk (the client may be slow; no lock is held), then put
 * with one PutObject of known length while the service holds the session's row lock.
 */
export class S3UploadStaging implements UploadStaging {
  readonly #client: S3Client;
  readonly #settings: S3UploadStagingOptions['settings'];
  readonly #spool: string;
  readonly #ownsClient: boolean;

  constructor(options: S3UploadStagingOptions) {
    this.#client = options.client;
    this.#ownsClient = options.ownsClient === true;
    this.#settings = options.settings;
    this.#spool = options.spoolDir;
  }

  async init(): Promise<void> {
    await mkdir(this.#spool, { recursive: true, mode: 0o700 });
    // The spool is this process's alone: anything in it was left by a crash.
    for (const name of await readdir(this.#spool))
      await rm(path.join(this.#spool, name), { force: true });
  }

  async close(): Promise<void> {
    if (this.#ownsClient) this.#client.destroy();
  }

  async receive(sessionId: string, body: Readable, maxBytes: number): Promise<ReceivedChunk> {
    const prefix = this.#prefix(sessionId);
    const spooled = path.join(this.#spool, `${sessionId}.${randomBytes(8).toString('hex')}`);
    const size = await spoolChunk(body, spooled, maxBytes, false);
    const put = (offset: number, bytes: Buffer) =>
      this.#put(`${prefix}${chunkName(offset)}`, bytes);
    return {
      sessionId,
      size,
      async place(offset) {
        // A Buffer body (≤ uploads.maxChunkBytes, only while placing) lets the SDK retry and
        // checksum the request; a file stream could not be replayed.
        await put(offset, await readFile(spooled));
      },
      async discard() {
        await rm(spooled, { force: true });
      },
    };
  }

  read(sessionId: string, size: number): Readable {
    const prefix = this.#prefix(sessionId);
    const list = () => this.#list(prefix);
    const get = (key: string) => this.#get(key);
    return Readable.from(
      (async function* () {
        if (size === 0) return;
        const stored = new Map<number, number>();
        for (const o of await list()) {
          const offset = chunkOffset(o.key.slice(prefix.length));
          if (offset !== undefined) stored.set(offset, o.size);
        }
        for (const chunk of chunkChain(stored, size)) {
          let seen = 0;
          for await (const part of await get(`${prefix}${chunkName(chunk.offset)}`)) {
            const buf = part as Buffer;
            const take = Math.min(buf.length, chunk.size - seen);
            if (take > 0) yield take === buf.length ? buf : buf.subarray(0, take);
            seen += buf.length;
          }
          if (seen < chunk.size)
            throw new ServerError('UPLOAD_INCOMPLETE', `chunk at ${chunk.offset} is short`);
        }
      })(),
    );
  }

  async remove(sessionId: string): Promise<void> {
    const keys = (await this.#list(this.#prefix(sessionId))).map((o) => o.key);
    // DeleteObjects takes at most 1,000 keys per request.
    for (let i = 0; i < keys.length; i += 1000) {
      await this.#call('delete upload chunks', () =>
        this.#client.send(
          new DeleteObjectsCommand({
            Bucket: this.#settings.bucket,
            Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true },
          }),
        ),
      );
    }
  }

  async list(): Promise<string[]> {
    // `uploads/<id>/` with the id left out is `uploads//`: drop the last slash.
    const root = S3_KEYS.uploadSession(this.#settings.prefix, '').slice(0, -1);
    const ids: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.#call('list upload sessions', () =>
        this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.#settings.bucket,
            Prefix: root,
            Delimiter: '/',
            ContinuationToken: token,
          }),
        ),
      );
      for (const p of page.CommonPrefixes ?? []) {
        const id = (p.Prefix ?? '').slice(root.length).replace(/\/$/, '');
        if (isSessionId(id)) ids.push(id);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return ids;
  }

  sweepSpool(maxAgeMs: number): Promise<number> {
    // Other replicas spool here too: only files untouched for maxAgeMs are abandoned.
    return removeIdleFiles(this.#spool, maxAgeMs);
  }

  #prefix(sessionId: string): string {
    return S3_KEYS.uploadSession(this.#settings.prefix, checkSessionId(sessionId));
  }

  async #put(key: string, body: Buffer): Promise<void> {
    const { sse, kmsKeyId } = this.#settings;
    await this.#call('put upload chunk', () =>
      this.#client.send(
        new PutObjectCommand({
          Bucket: this.#settings.bucket,
          Key: key,
          Body: body,
          ContentLength: body.length,
          ...(sse === 'none' ? {} : { ServerSideEncryption: sse }),
          ...(sse === 'aws:kms' && kmsKeyId !== '' ? { SSEKMSKeyId: kmsKeyId } : {}),
        }),
      ),
    );
  }

  async #get(key: string): Promise<AsyncIterable<unknown>> {
    const out = await this.#call('get upload chunk', () =>
      this.#client.send(new GetObjectCommand({ Bucket: this.#settings.bucket, Key: key })),
    );
    return out.Body as unknown as AsyncIterable<unknown>;
  }

  async #list(prefix: string): Promise<{ key: string; size: number }[]> {
    const objects: { key: string; size: number }[] = [];
    let token: string | undefined;
    do {
      const page = await this.#call('list upload chunks', () =>
        this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.#settings.bucket,
            Prefix: prefix,
            ContinuationToken: token,
          }),
        ),
      );
      for (const o of page.Contents ?? [])
        if (o.Key !== undefined) objects.push({ key: o.Key, size: Number(o.Size ?? 0) });
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return objects;
  }

  /**
   * Runs one S3 call: a chunk that vanished is an incomplete upload; anything else the bucket
   * did not do is `BLOB_STORE_UNAVAILABLE` (nothing was acknowledged; the client retries).
   */
  async #call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (!(error instanceof ServerError) && isS3NotFound(error))
        throw new ServerError('UPLOAD_INCOMPLETE', 'a staged chunk is missing', { cause: error });
      throw s3Failure(operation, error);
    }
  }
}
