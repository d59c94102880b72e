import {
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { decodeCbor } from '../cbor/cbor-decode.js';
import { encodeCbor } from '../cbor/cbor-encode.js';
import { CborMap, type CborValue } from '../cbor/cbor-types.js';
import { CoreError } from '../errors.js';

/** COSE key types (RFC 9052 §7, IANA "COSE Key Types"). */
export const COSE_KTY = { OKP: 1, EC2: 2, Symmetric: 4 } as const;
/** COSE elliptic curves used by Updraft (IANA "COSE Elliptic Curves"). */
export const COSE_CRV = { 'P-256': 1, X25519: 4, Ed25519: 6 } as const;
export type CoseCurve = keyof typeof COSE_CRV;

/** COSE_Key common and type-specific labels (RFC 9052 §7.1, RFC 9053 §7). */
export const COSE_KEY_LABEL = {
  kty: 1,
  kid: 2,
  alg: 3,
  crv: -1,
  x: -2,
  y: -3,
  d: -4,
  k: -1,
} as const;

/** A parsed COSE_Key. Byte members are raw big-endian coordinates / key bytes. */
export type CoseKey =
  | {
      readonly kty: 'EC2';
      readonly crv: 'P-256';
      readonly x: Uint8Array;
      readonly y: Uint8Array;
      readonly d?: Uint8Array;
      readonly kid?: Uint8Array;
      readonly alg?: number;
    }
  | {
      readonly kty: 'OKP';
      readonly crv: 'Ed25519' | 'X25519';
      readonly x: Uint8Array;
      readonly d?: Uint8Array;
      readonly kid?: Uint8Array;
      readonly alg?: number;
    }
  | {
      readonly kty: 'Symmetric';
      readonly k: Uint8Array;
      readonly kid?: Uint8Array;
      readonly alg?: number;
    };

function invalid(reason: string, cause?: unknown): CoreError {
  return new CoreError('MANIFEST_KEY_INVALID', `invalid key: ${reason}`, {
    cause,
    details: { reason },
  });
}

function bytesOf(map: CborMap, label: number, name: string, length?: number): Uint8Array {
  const v = map.get(label);
  if (!(v instanceof Uint8Array))
    throw invalid(`COSE_Key member ${name} (${label}) must be a byte string`);
  if (length !== undefined && v.length !== length)
    throw invalid(`COSE_Key member ${name} must be ${length} bytes`);
  return v;
}

function optionalBytes(
  map: CborMap,
  label: number,
  name: string,
  length?: number,
): Uint8Array | undefined {
  return map.has(label) ? bytesOf(map, label, name, length) : undefined;
}

/**
 * Parses COSE_Key bytes (EC2 P-256, OKP Ed25519/X25519, Symmetric). Throws
 * `CoreError('MANIFEST_KEY_INVALID')` for malformed or unsupported keys (and MANIFEST_MALFORMED
 * for bytes that are not CBOR).
 *
 * @example
 * const key = decodeCoseKey(Buffer.from(coseKeyHex, 'hex'));
 */
export function decodeCoseKey(bytes: Uint8Array): CoseKey {
  const value = decodeCbor(bytes, { context: 'COSE_Key', limits: { maxBytes: 4096, maxDepth: 4 } });
  return coseKeyFromCbor(value);
}

/** Same as {@link decodeCoseKey} for an already decoded COSE_Key map. */
export function coseKeyFromCbor(value: CborValue): CoseKey {
  if (!(value instanceof CborMap)) throw invalid('a COSE_Key must be a map');
  const kty = value.get(COSE_KEY_LABEL.kty);
  const kid = optionalBytes(value, COSE_KEY_LABEL.kid, 'kid');
  const algValue = value.get(COSE_KEY_LABEL.alg);
  if (algValue !== undefined && typeof algValue !== 'number')
    throw invalid('alg must be an integer');
  const extra = { ...(kid ? { kid } : {}), ...(algValue !== undefined ? { alg: algValue } : {}) };
  if (kty === COSE_KTY.EC2) {
    if (value.get(COSE_KEY_LABEL.crv) !== COSE_CRV['P-256'])
      throw invalid('only the P-256 curve is supported for EC2');
    const x = bytesOf(value, COSE_KEY_LABEL.x, 'x', 32);
    const y = bytesOf(value, COSE_KEY_LABEL.y, 'y (compressed points are not supported)', 32);
    const d = optionalBytes(value, COSE_KEY_LABEL.d, 'd', 32);
    return { kty: 'EC2', crv: 'P-256', x, y, ...(d ? { d } : {}), ...extra };
  }
  if (kty === COSE_KTY.OKP) {
    const crvValue = value.get(COSE_KEY_LABEL.crv);
    const crv =
      crvValue === COSE_CRV.Ed25519
        ? 'Ed25519'
        : crvValue === COSE_CRV.X25519
          ? 'X25519'
          : undefined;
    if (!crv) throw invalid('only Ed25519 and X25519 are supported for OKP');
    const x = bytesOf(value, COSE_KEY_LABEL.x, 'x', 32);
    const d = optionalBytes(value, COSE_KEY_LABEL.d, 'd', 32);
    return { kty: 'OKP', crv, x, ...(d ? { d } : {}), ...extra };
  }
  if (kty === COSE_KTY.Symmetric) {
    const k = bytesOf(value, COSE_KEY_LABEL.k, 'k');
    if (k.length === 0) throw invalid('empty symmetric key');
    return { kty: 'Symmetric', k, ...extra };
  }
  throw invalid(`unsupported key type ${String(kty)}`);
}

/** Deterministic CBOR encoding of a COSE_Key (private members included when present). */
export function encodeCoseKey(
  key: CoseKey,
  options: { includePrivate?: boolean } = {},
): Uint8Array {
  return encodeCbor(coseKeyToCbor(key, options.includePrivate ?? true));
}

function coseKeyToCbor(key: CoseKey, includePrivate: boolean): CborMap {
  const L = COSE_KEY_LABEL;
  const entries: [CborValue, CborValue][] = [[L.kty, COSE_KTY[key.kty]]];
  if (key.kid) entries.push([L.kid, key.kid]);
  if (key.alg !== undefined) entries.push([L.alg, key.alg]);
  if (key.kty === 'Symmetric') {
    entries.push([L.k, key.k]);
  } else {
    entries.push([L.crv, COSE_CRV[key.crv]], [L.x, key.x]);
    if (key.kty === 'EC2') entries.push([L.y, key.y]);
    if (includePrivate && key.d) entries.push([L.d, key.d]);
  }
  return new CborMap(entries);
}

/** The public part of a key (no `d`); symmetric keys have no public part and are returned as is. */
export function publicCoseKey(key: CoseKey): CoseKey {
  if (key.kty === 'Symmetric') return key;
  const { d: _d, ...rest } = key;
  return rest as CoseKey;
}

const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');
const fromB64u = (s: string | undefined, what: string): Uint8Array => {
  if (typeof s !== 'string') throw invalid(`JWK member ${what} missing`);
  return new Uint8Array(Buffer.from(s, 'base64url'));
};

/**
 * A node:crypto KeyObject for a COSE_Key: a private key when `d` is present (unless `type` says
 * 'public'), a public key otherwise, a secret key for Symmetric keys.
 *
 * @example
 * const publicKey = coseKeyToKeyObject(decodeCoseKey(bytes), 'public');
 */
export function coseKeyToKeyObject(
  key: CoseKey,
  type?: 'private' | 'public' | 'secret',
): KeyObject {
  try {
    if (key.kty === 'Symmetric') {
      if (type && type !== 'secret') throw invalid('a symmetric key has no public or private part');
      return createSecretKey(key.k);
    }
    if (type === 'secret') throw invalid('an asymmetric key is not a secret key');
    const jwk: JsonWebKey =
      key.kty === 'EC2'
        ? { kty: 'EC', crv: 'P-256', x: b64u(key.x), y: b64u(key.y) }
        : { kty: 'OKP', crv: key.crv, x: b64u(key.x) };
    const wantPrivate = type === 'private' || (type === undefined && key.d !== undefined);
    if (wantPrivate) {
      if (!key.d) throw invalid('the COSE_Key has no private part (d)');
      return createPrivateKey({ key: { ...jwk, d: b64u(key.d) }, format: 'jwk' });
    }
    return createPublicKey({ key: jwk, format: 'jwk' });
  } catch (error) {
    if (error instanceof CoreError) throw error;
    throw invalid(
      'the key material is not a valid key of its type (point not on the curve?)',
      error,
    );
  }
}

/** The COSE_Key of a node:crypto KeyObject (P-256, Ed25519, X25519 or a secret key). */
export function keyObjectToCoseKey(
  keyObject: KeyObject,
  options: { kid?: Uint8Array; alg?: number } = {},
): CoseKey {
  const extra = {
    ...(options.kid ? { kid: options.kid } : {}),
    ...(options.alg !== undefined ? { alg: options.alg } : {}),
  };
  if (keyObject.type === 'secret') {
    return { kty: 'Symmetric', k: new Uint8Array(keyObject.export()), ...extra };
  }
  const jwk = keyObject.export({ format: 'jwk' });
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') {
    return {
      kty: 'EC2',
      crv: 'P-256',
      x: fromB64u(jwk.x, 'x'),
      y: fromB64u(jwk.y, 'y'),
      ...(jwk.d ? { d: fromB64u(jwk.d, 'd') } : {}),
      ...extra,
    };
  }
  if (jwk.kty === 'OKP' && (jwk.crv === 'Ed25519' || jwk.crv === 'X25519')) {
    return {
      kty: 'OKP',
      crv: jwk.crv,
      x: fromB64u(jwk.x, 'x'),
      ...(jwk.d ? { d: fromB64u(jwk.d, 'd') } : {}),
      ...extra,
    };
  }
  throw invalid(
    `unsupported key (${jwk.kty ?? '?'} ${jwk.crv ?? ''}): use P-256, Ed25519, X25519 or a secret key`,
  );
}
