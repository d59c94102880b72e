import { createHmac, verify as cryptoVerify, type KeyObject, timingSafeEqual } from 'node:crypto';
import { bstrHeader, encodeCbor } from '../cbor/cbor-encode.js';
import { CborMap, CborTag } from '../cbor/cbor-types.js';
import { COSE_ALG, keyFamilyOfAlg } from './cose-algorithms.js';
import type { Signer } from './signer.js';

/** COSE tags (RFC 9052 §2). */
export const COSE_TAG = {
  Sign: 98,
  Sign1: 18,
  Mac: 97,
  Mac0: 17,
  Encrypt: 96,
  Encrypt0: 16,
} as const;
/** COSE header labels used here. */
export const COSE_HEADER = { alg: 1, crit: 2, kid: 4 } as const;

/**
 * The encoded Sig_structure / MAC_structure of a single-signer COSE object with a detached
 * payload: `[context, body_protected, external_aad = h'', payload]` (RFC 9052 §4.4, §6.3).
 */
export function coseToBeSigned(
  context: 'Signature1' | 'MAC0',
  protectedBytes: Uint8Array,
  payload: Uint8Array,
): Uint8Array {
  // Hand-assembled (it runs on every verification): array(4), context text, bstr protected,
  // empty bstr external_aad, bstr payload — the same bytes encodeCbor gives.
  const prefix = context === 'Signature1' ? SIGNATURE1_PREFIX : MAC0_PREFIX;
  const h1 = bstrHeader(protectedBytes.length);
  const h2 = bstrHeader(payload.length);
  const out = Buffer.allocUnsafe(
    prefix.length + h1.length + protectedBytes.length + 1 + h2.length + payload.length,
  );
  let at = 0;
  for (const part of [prefix, h1, protectedBytes, EMPTY_BSTR, h2, payload]) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

const SIGNATURE1_PREFIX = encodeCbor(['Signature1']).subarray(0, 1 + 11);
const MAC0_PREFIX = encodeCbor(['MAC0']);
const EMPTY_BSTR = new Uint8Array([0x40]);
SIGNATURE1_PREFIX[0] = 0x84;
MAC0_PREFIX[0] = 0x84;

/**
 * Verifies a raw COSE signature (ES256/ESP256: r||s; EdDSA/Ed25519) with a public key. Returns false
 * for a wrong signature, a wrong key type or an unsupported algorithm; never throws.
 */
export function verifyCoseSignature(
  alg: number,
  publicKey: KeyObject,
  toBeSigned: Uint8Array,
  signature: Uint8Array,
): boolean {
  const family = keyFamilyOfAlg(alg);
  try {
    if (family === 'es256') {
      if (signature.length !== 64) return false;
      return cryptoVerify(
        'sha256',
        toBeSigned,
        { key: publicKey, dsaEncoding: 'ieee-p1363' },
        signature,
      );
    }
    if (family === 'ed25519') {
      if (signature.length !== 64) return false;
      return cryptoVerify(null, toBeSigned, publicKey, signature);
    }
  } catch {
    return false;
  }
  return false;
}

/** Checks a COSE_Mac0 tag (HMAC 256/256) in constant time. */
export function verifyCoseMac(
  alg: number,
  secretKey: KeyObject,
  toBeMaced: Uint8Array,
  tag: Uint8Array,
): boolean {
  if (alg !== COSE_ALG.HMAC256 || secretKey.type !== 'secret' || tag.length !== 32) return false;
  const expected = createHmac('sha256', secretKey).update(toBeMaced).digest();
  return timingSafeEqual(expected, tag);
}

/**
 * A COSE_Sign1_Tagged with a detached payload (the SUIT way): protected `{1: alg}`,
 * unprotected `{4: kid}`, payload nil, signature over `["Signature1", protected, h'', payload]`.
 */
export async function createCoseSign1(payload: Uint8Array, signer: Signer): Promise<Uint8Array> {
  const protectedBytes = encodeCbor(CborMap.of([COSE_HEADER.alg, signer.alg]));
  const signature = await signer.sign(coseToBeSigned('Signature1', protectedBytes, payload));
  return encodeCbor(
    new CborTag(COSE_TAG.Sign1, [
      protectedBytes,
      CborMap.of([COSE_HEADER.kid, signer.kid]),
      null,
      signature,
    ]),
  );
}

/** A COSE_Mac0_Tagged (HMAC 256/256) with a detached payload, for symmetric-key deployments. */
export function createCoseMac0(
  payload: Uint8Array,
  secretKey: KeyObject,
  kid?: Uint8Array,
): Uint8Array {
  const protectedBytes = encodeCbor(CborMap.of([COSE_HEADER.alg, COSE_ALG.HMAC256]));
  const tag = createHmac('sha256', secretKey)
    .update(coseToBeSigned('MAC0', protectedBytes, payload))
    .digest();
  const unprotected = kid ? CborMap.of([COSE_HEADER.kid, kid]) : new CborMap([]);
  return encodeCbor(
    new CborTag(COSE_TAG.Mac0, [protectedBytes, unprotected, null, new Uint8Array(tag)]),
  );
}
