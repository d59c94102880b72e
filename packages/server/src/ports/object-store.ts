/** Options of {@link ObjectStore.presignedGetUrl}. */
export interface PresignedGetOptions {
  /** When the URL stops working (at most 7 days after `signingDate`). */
  readonly expiresAt: Date;
  /**
   * The signature's time (default now). Pass the start of a time window to hand out the same URL
   * for every request in it (cacheable by devices and CDNs).
   */
  readonly signingDate?: Date;
  /** Name the download is saved under (sent back as Content-Disposition). */
  readonly fileName?: string;
}

/**
 * What an object-store blob store offers beyond {@link BlobStore}: URLs a device downloads a blob
 * from directly, without credentials and without the bytes passing through the service.
 * Present on the app's services only when `blobs.store=s3`.
 */
export interface ObjectStore {
  /** A pre-signed GET URL of the blob `digest` (not looked up: signing is local). */
  presignedGetUrl(digest: string, options: PresignedGetOptions): Promise<string>;
}
