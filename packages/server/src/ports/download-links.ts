/**
 * The time window a download link is issued in. Every link issued inside one window is the same
 * string (fixed signing time, fixed expiry), so a check-in answer and its ETag stay stable between
 * polls and a device's 304s keep working.
 */
export interface DownloadWindow {
  /** Start of the window, ms since the Unix epoch (the signing time of direct links). */
  readonly startMs: number;
  /** Expiry of the links issued in it, seconds since the Unix epoch. */
  readonly expiresAt: number;
}

/**
 * Signs URLs on which a device fetches a stored blob (payload or patch) without the service: an
 * object store's pre-signed GET or a CDN's signed URL. Same digest and window, same URL.
 */
export interface DirectUrlSigner {
  /** Where the URLs point, for logs and metrics. */
  readonly kind: 's3' | 'cdn';
  /** An absolute URL for blob `digest`, valid from `window.startMs` until `window.expiresAt`. */
  url(digest: string, window: DownloadWindow): Promise<string>;
}

/** A direct link as the check-in (or DDI, Mender) hands it to a device. */
export interface DirectLink {
  readonly url: string;
  /** Seconds since the Unix epoch. */
  readonly expiresAt: number;
}

/**
 * Decides the URL of a payload or patch for a device's grant: `undefined` means "through the
 * service" (its own signed URL, checked against the grant on every request); otherwise a direct
 * link on the object store or CDN. Callers ask only for the open action of an authenticated,
 * not decommissioned device (a direct link cannot be revoked before it expires).
 */
export interface DownloadLinks {
  direct(digest: string, nowMs: number): Promise<DirectLink | undefined>;
}
