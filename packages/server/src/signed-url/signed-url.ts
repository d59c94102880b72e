import { createHmac, timingSafeEqual } from 'node:crypto';
import { ServerError } from '../errors.js';

/**
 * What a signed download URL grants: one device of one tenant may fetch one artifact until `exp`,
 * for one action and under one device credential. The server checks, when serving, that the
 * action is still open and the credential still valid (see `download-grant.repository.ts`).
 */
export interface SignedUrlClaims {
  readonly tenantId: string;
  readonly deviceId: string;
  /** SHA-256 of the artifact, lowercase hex. */
  readonly digest: string;
  /** Expiry, seconds since the Unix epoch. */
  readonly exp: number;
  /** The action the URL was issued for (absent only for URLs issued outside a check-in). */
  readonly actionId?: string | undefined;
  /** Id of the device credential (token) that checked in (absent for other authenticators). */
  readonly credentialId?: string | undefined;
}

/** Query parameters as they appear in the URL (`t`, `d`, `a`, `k`, `exp`, `sig`). */
export interface SignedUrlQuery {
  readonly t?: unknown;
  readonly d?: unknown;
  readonly a?: unknown;
  readonly k?: unknown;
  readonly exp?: unknown;
  readonly sig?: unknown;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
const ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * Short-lived download URLs: HMAC-SHA256 over (tenant, device, artifact digest, expiry). The shape
 * needs no session and no database to check, so a CDN or object store front could serve it too.
 *
 * Expiry is bucketed (`exp` is the end of the next window) so every check-in inside one window
 * yields the same URL, which keeps the check-in body and its ETag stable between polls.
 */
export class SignedUrl {
  readonly #key: Buffer;
  readonly #ttlSeconds: number;

  /** `key` must be at least 32 bytes of secret; `ttlSeconds` is the window length. */
  constructor(key: Uint8Array, ttlSeconds = 3600) {
    if (key.length < 32) throw new RangeError('signed-url key must be at least 32 bytes');
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1)
      throw new RangeError('ttlSeconds must be a positive integer');
    this.#key = Buffer.from(key);
    this.#ttlSeconds = ttlSeconds;
  }

  /** The window index for `nowMs`; changes once per TTL, used in check-in ETags. */
  window(nowMs: number): number {
    return Math.floor(nowMs / 1000 / this.#ttlSeconds);
  }

  /** Expiry for URLs issued at `nowMs`: valid for at least one and at most two TTLs. */
  expiryFor(nowMs: number): number {
    return (this.window(nowMs) + 2) * this.#ttlSeconds;
  }

  /** The query string (without `?`) that authorises `claims`. */
  sign(claims: SignedUrlClaims): string {
    const q = new URLSearchParams({ t: claims.tenantId, d: claims.deviceId });
    if (claims.actionId !== undefined) q.set('a', claims.actionId);
    if (claims.credentialId !== undefined) q.set('k', claims.credentialId);
    q.set('exp', String(claims.exp));
    q.set('sig', this.#mac(claims).toString('base64url'));
    return q.toString();
  }

  /**
   * Checks a request's query for artifact `digest` (taken from the path) at `nowMs`. Throws
   * `DEVICE_URL_INVALID` for anything malformed or tampered, `DEVICE_URL_EXPIRED` once the
   * signature is good but the time is up (the signature is checked first, so a forged `exp`
   * is reported as invalid, not expired).
   */
  verify(digest: string, query: SignedUrlQuery, nowMs: number): SignedUrlClaims {
    const { t, d, a, k, exp, sig } = query;
    if (
      typeof t !== 'string' ||
      typeof d !== 'string' ||
      (a !== undefined && (typeof a !== 'string' || !ID.test(a))) ||
      (k !== undefined && (typeof k !== 'string' || !ID.test(k))) ||
      typeof exp !== 'string' ||
      typeof sig !== 'string' ||
      !ID.test(t) ||
      !ID.test(d) ||
      !SHA256_HEX.test(digest) ||
      !/^\d{1,12}$/.test(exp) ||
      !/^[A-Za-z0-9_-]{43}$/.test(sig)
    ) {
      throw new ServerError('DEVICE_URL_INVALID', 'download URL is malformed');
    }
    const claims: SignedUrlClaims = {
      tenantId: t,
      deviceId: d,
      digest,
      exp: Number(exp),
      ...(a !== undefined ? { actionId: a as string } : {}),
      ...(k !== undefined ? { credentialId: k as string } : {}),
    };
    // Compare the canonical text, not decoded bytes: base64url's spare low bits would otherwise
    // let several spellings of one signature pass.
    const expected = Buffer.from(this.#mac(claims).toString('base64url'));
    const given = Buffer.from(sig);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new ServerError('DEVICE_URL_INVALID', 'download URL signature does not match');
    }
    if (claims.exp * 1000 <= nowMs) {
      throw new ServerError(
        'DEVICE_URL_EXPIRED',
        'download URL has expired; check in for a fresh one',
      );
    }
    return claims;
  }

  #mac(c: SignedUrlClaims): Buffer {
    // JSON framing keeps field boundaries unambiguous whatever the ids contain.
    // v2 adds the action and the credential (null when absent: presence is signed too).
    const message = JSON.stringify([
      'updraft-download-v2',
      c.tenantId,
      c.deviceId,
      c.digest,
      c.exp,
      c.actionId ?? null,
      c.credentialId ?? null,
    ]);
    return createHmac('sha256', this.#key).update(message).digest();
  }
}
