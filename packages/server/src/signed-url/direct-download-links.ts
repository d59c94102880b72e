import type {
  DirectLink,
  DirectUrlSigner,
  DownloadLinks,
  DownloadWindow,
} from '../ports/download-links.js';
import { downloadWindow } from './download-window.js';

/** Most links kept per window (a fleet downloads few distinct blobs at a time). */
const MAX_CACHED = 4096;

/**
 * Direct downloads (`blobs.store=s3` with `downloads.direct`): every payload or patch link is the
 * signer's URL for the current window. A link depends only on the blob and the window, so links
 * are cached for the window: a campaign's thousands of check-ins sign each blob once (a CDN
 * signature is an RSA operation).
 */
export class DirectDownloadLinks implements DownloadLinks {
  readonly #signer: DirectUrlSigner;
  readonly #ttlSeconds: number;
  #window: DownloadWindow | null = null;
  readonly #cache = new Map<string, Promise<string>>();

  constructor(signer: DirectUrlSigner, ttlSeconds: number) {
    this.#signer = signer;
    this.#ttlSeconds = ttlSeconds;
  }

  /** Where the links point (`s3` or `cdn`). */
  get kind(): DirectUrlSigner['kind'] {
    return this.#signer.kind;
  }

  async direct(digest: string, nowMs: number): Promise<DirectLink> {
    const window = downloadWindow(this.#ttlSeconds, nowMs);
    if (this.#window?.startMs !== window.startMs) {
      this.#window = window;
      this.#cache.clear();
    }
    let url = this.#cache.get(digest);
    if (url === undefined) {
      if (this.#cache.size >= MAX_CACHED) this.#cache.clear();
      url = this.#signer.url(digest, window);
      this.#cache.set(digest, url);
      // A failed signing is not kept: the next check-in tries again.
      const signing = url;
      signing.catch(() => {
        if (this.#cache.get(digest) === signing) this.#cache.delete(digest);
      });
    }
    return { url: await url, expiresAt: window.expiresAt };
  }
}
