import { createHash, type KeyObject } from 'node:crypto';
import { encodeCbor } from '../cbor/cbor-encode.js';
import { CborMap } from '../cbor/cbor-types.js';
import {
  COSE_CRV,
  COSE_KEY_LABEL,
  COSE_KTY,
  type CoseKey,
  keyObjectToCoseKey,
} from './cose-key.js';

/**
 * RFC 9679 COSE Key Thumbprint with SHA-256: the hash of the deterministic CBOR encoding of a map
 * holding only the required public members (EC2: kty, crv, x, y; OKP: kty, crv, x;
 * Symmetric: kty, k). Updraft uses it as the `kid` of every key, so the kid follows from the key
 * itself and cannot be chosen to collide with another key's.
 *
 * @example
 * const kid = coseKeyThumbprint(decodeCoseKey(bytes)); // 32 bytes
 */
export function coseKeyThumbprint(key: CoseKey): Uint8Array {
  const L = COSE_KEY_LABEL;
  const map =
    key.kty === 'Symmetric'
      ? CborMap.of([L.kty, COSE_KTY.Symmetric], [L.k, key.k])
      : key.kty === 'EC2'
        ? CborMap.of([L.kty, COSE_KTY.EC2], [L.crv, COSE_CRV[key.crv]], [L.x, key.x], [L.y, key.y])
        : CborMap.of([L.kty, COSE_KTY.OKP], [L.crv, COSE_CRV[key.crv]], [L.x, key.x]);
  return new Uint8Array(createHash('sha256').update(encodeCbor(map)).digest());
}

const kidCache = new WeakMap<KeyObject, Uint8Array>();

/** The RFC 9679 thumbprint (Updraft's kid) of a node:crypto key; private keys give their public key's. */
export function keyId(key: KeyObject): Uint8Array {
  let kid = kidCache.get(key);
  if (!kid) {
    kid = coseKeyThumbprint(keyObjectToCoseKey(key));
    kidCache.set(key, kid);
  }
  return kid;
}
