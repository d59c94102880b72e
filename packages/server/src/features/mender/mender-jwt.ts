import { createHmac, timingSafeEqual } from 'node:crypto';

/** What a Mender device token says: which device of which tenant, under which auth set. */
export interface MenderJwtClaims {
  readonly deviceId: string;
  readonly tenantId: string;
  /** The auth set the token was issued for; revocation is checked against it on each request. */
  readonly authSetId: string;
  /** Expiry, seconds since the epoch. */
  readonly exp: number;
}

const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
const ID = /^[A-Za-z0-9_.:-]{1,128}$/;
const SEGMENT = /^[A-Za-z0-9_-]+$/;

/**
 * The JSON Web Tokens the Mender device API hands out (HS256 under a key derived from the master
 * key; the key never leaves the process). mender-client treats the token as opaque and sends it
 * as `Authorization: Bearer`; only this service reads it, so a symmetric MAC suffices.
 */
export class MenderJwt {
  readonly #key: Buffer;
  readonly #ttlSeconds: number;

  /** `key` at least 32 bytes; `ttlSeconds` is how long a token lives. */
  constructor(key: Uint8Array, ttlSeconds: number) {
    if (key.length < 32) throw new RangeError('mender-jwt key must be at least 32 bytes');
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1)
      throw new RangeError('ttlSeconds must be a positive integer');
    this.#key = Buffer.from(key);
    this.#ttlSeconds = ttlSeconds;
  }

  /** A token for the device, valid from `nowMs` for the configured lifetime. */
  issue(subject: Omit<MenderJwtClaims, 'exp'>, nowMs: number): string {
    const iat = Math.floor(nowMs / 1000);
    const payload = {
      iss: 'updraft',
      sub: subject.deviceId,
      jti: subject.authSetId,
      iat,
      exp: iat + this.#ttlSeconds,
      'mender.tenant': subject.tenantId,
      'mender.device': true,
    };
    const body = `${HEADER}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
    return `${body}.${this.#mac(body).toString('base64url')}`;
  }

  /** The claims of a genuine, unexpired token; `undefined` for anything else. */
  verify(token: string, nowMs: number): MenderJwtClaims | undefined {
    const parts = token.split('.');
    if (parts.length !== 3 || parts[0] !== HEADER) return undefined;
    const [, payload, sig] = parts as [string, string, string];
    if (!SEGMENT.test(payload) || !SEGMENT.test(sig)) return undefined;
    // Compare the canonical text (base64url's spare bits would admit other spellings).
    const expected = Buffer.from(this.#mac(`${HEADER}.${payload}`).toString('base64url'));
    const given = Buffer.from(sig);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    let claims: Record<string, unknown>;
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<
        string,
        unknown
      >;
    } catch {
      return undefined;
    }
    const { sub, jti, exp } = claims;
    const tenant = claims['mender.tenant'];
    if (
      typeof sub !== 'string' ||
      typeof jti !== 'string' ||
      typeof tenant !== 'string' ||
      typeof exp !== 'number' ||
      !ID.test(sub) ||
      !ID.test(jti) ||
      !ID.test(tenant)
    )
      return undefined;
    if (exp * 1000 <= nowMs) return undefined;
    return { deviceId: sub, tenantId: tenant, authSetId: jti, exp };
  }

  #mac(text: string): Buffer {
    return createHmac('sha256', this.#key).update(text).digest();
  }
}
