import { getSignedUrl } from '@aws-sdk/cloudfront-signer';
import type { DirectUrlSigner, DownloadWindow } from '../../ports/download-links.js';

/** What a CDN link is made of (the `downloads.cdn*` settings, the key read from its file). */
export interface CloudFrontLinkOptions {
  /** `https://dxxxx.cloudfront.net` (a path prefix is allowed); the object key is appended. */
  readonly baseUrl: string;
  /** The CloudFront public key's id (`Key-Pair-Id`), of a key group trusted by the behavior. */
  readonly keyPairId: string;
  /** PEM of the RSA private key matching that public key. */
  readonly privateKeyPem: string;
  /** The object key of a blob in the bucket the CDN fronts (`S3_KEYS.blob`). */
  readonly keyOf: (digest: string) => string;
}

/**
 * Direct links on a CDN in front of the bucket: CloudFront signed URLs with a canned policy
 * (resource = the URL, `DateLessThan` = the window's expiry). RSA PKCS#1 v1.5 signatures are
 * deterministic, so the link is one string per blob and window. The CDN fetches from the bucket
 * with its own origin access; the bucket stays private.
 */
export class CloudFrontSignedLinks implements DirectUrlSigner {
  readonly kind = 'cdn' as const;
  readonly #options: CloudFrontLinkOptions;
  readonly #base: string;

  constructor(options: CloudFrontLinkOptions) {
    this.#options = options;
    this.#base = options.baseUrl.replace(/\/+$/, '');
  }

  async url(digest: string, window: DownloadWindow): Promise<string> {
    const { keyPairId, privateKeyPem, keyOf } = this.#options;
    const path = keyOf(digest).split('/').map(encodeURIComponent).join('/');
    return getSignedUrl({
      url: `${this.#base}/${path}`,
      keyPairId,
      privateKey: privateKeyPem,
      dateLessThan: new Date(window.expiresAt * 1000),
    });
  }
}
