import type { DirectUrlSigner, DownloadWindow } from '../../ports/download-links.js';

/** The one ability of the S3 blob store this signer uses (a local structural type). */
export interface GetPresigner {
  /** A pre-signed GET of blob `digest`, signed at `signingDate`, valid `expiresInSeconds` after. */
  presignedGetUrl(
    digest: string,
    options: { readonly expiresInSeconds: number; readonly signingDate: Date },
  ): Promise<string>;
}

/**
 * Direct links on the object store: SigV4 pre-signed GETs of `blobs/<sha256>`. Signed at the
 * window's start with the window's expiry, so a URL is one string for the whole window. The
 * object store answers Range requests on it, so a device resumes as it does on the service.
 */
export class S3PresignedLinks implements DirectUrlSigner {
  readonly kind = 's3' as const;

  constructor(private readonly store: GetPresigner) {}

  url(digest: string, window: DownloadWindow): Promise<string> {
    const signedAt = Math.floor(window.startMs / 1000);
    return this.store.presignedGetUrl(digest, {
      signingDate: new Date(window.startMs),
      expiresInSeconds: window.expiresAt - signedAt,
    });
  }
}
