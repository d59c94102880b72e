import type { S3Client } from '@aws-sdk/client-s3';
import type { ServerConfig } from '../config/config.js';
import type { BlobStore } from '../ports/blob-store.js';
import type { ObjectStore } from '../ports/object-store.js';
import { FsBlobStore } from './fs/fs-blob-store.js';
import { Semaphore } from './fs/semaphore.js';
import { S3BlobStore } from './s3/s3-blob-store.js';

/** What {@link createBlobStore} built. */
export interface CreatedBlobStore {
  /** The store `blobs.store` names (the plaintext cache, when configured, wraps it). */
  readonly stored: BlobStore;
  /** With `blobs.store=s3`: pre-signed download URLs on the bucket. */
  readonly objectStore?: ObjectStore;
  /** With `blobs.store=s3`: the app's one S3 client, for the other S3 adapters to share. */
  readonly s3Client?: S3Client;
}

/**
 * The blob store the configuration asks for: encrypted files under `blobs.dir` (`fs`, sealed with
 * the master key) or objects in the `s3.bucket` (`s3`, encrypted at rest by the object store).
 * Not initialised: the caller runs `init()` (and `close()` with the app).
 *
 * @example
 * const { stored, objectStore } = createBlobStore(config, { masterKey });
 */
export function createBlobStore(
  config: ServerConfig,
  options: { readonly masterKey: Buffer; readonly s3Client?: S3Client },
): CreatedBlobStore {
  if (config.blobs.store === 's3') {
    // An injected client stays the caller's; otherwise the store owns (and closes) its own.
    const store = new S3BlobStore({
      settings: config.s3,
      ...(options.s3Client ? { client: options.s3Client } : {}),
    });
    return { stored: store, objectStore: store, s3Client: store.client };
  }
  return {
    stored: new FsBlobStore({
      dir: config.blobs.dir,
      masterKey: options.masterKey,
      segmentSize: config.blobs.segmentSize,
      decryptions: new Semaphore(config.blobs.maxConcurrentDecryptions),
    }),
  };
}
