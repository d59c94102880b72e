import type { DirectUrlSigner, DownloadWindow } from '../../ports/download-links.js';
import type { ObjectStore } from '../../ports/object-store.js';

/**
 * Direct links on the object store: SigV4 pre-signed GETs of `blobs/<sha256>` (the S3 blob
 * store's {@link ObjectStore.presignedGetUrl}). Signed at the window's start with the window's
 * expiry, so a URL is one string for the whole window. The object store answers Range requests
 * on it, so a device resumes as it does on the service.
 */
export class S3PresignedLinks implements DirectUrlSigner {
  readonly kind = 's3' as const;

  constructor(private readonly store: ObjectStore) {}

  url(digest: string, window: DownloadWindow): Promise<string> {
    return this.store.presignedGetUrl(digest, {
      signingDate: new Date(window.startMs),
      expiresAt: new Date(window.expiresAt * 1000),
    });
  }
}
