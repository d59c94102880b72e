import {
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
} from 'node:crypto';
import { encodeCbor } from '../cbor/cbor-encode.js';
import { CoreError } from '../errors.js';
import { type EcdhCurve, KEY_ALG_SPECS, type KeyDistributionAlg } from './algorithms.js';
import type { EphemeralKey } from './encryption-info.js';

/** The SuppPubInfo.other value fixed by draft-ietf-suit-firmware-encryption. */
const SUIT_KDF_OTHER = new TextEncoder().encode('SUIT Payload Encryption');

/**
 * The COSE_KDF_Context of draft-ietf-suit-firmware-encryption: AlgorithmID is the AES-KW algorithm,
 * the party infos are nil, SuppPubInfo binds the key length, the recipient's protected header and
 * the fixed string "SUIT Payload Encryption".
 */
export function kdfContext(alg: KeyDistributionAlg, recipientProtected: Uint8Array): Uint8Array {
  const spec = KEY_ALG_SPECS[alg];
  return encodeCbor([
    spec.keyWrapCoseId,
    [null, null, null],
    [null, null, null],
    [spec.kekBytes * 8, recipientProtected, SUIT_KDF_OTHER],
  ]);
}

/** The curve of an ECDH-capable key (P-256 EC or X25519), or undefined for any other key. */
export function ecdhCurveOf(key: KeyObject): EcdhCurve | undefined {
  if (key.asymmetricKeyType === 'x25519') return 'X25519';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    return 'P-256';
  }
  return undefined;
}

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

/** Imports a COSE ephemeral key; a point that is not on the curve is a malformed structure. */
export function importEphemeralKey(key: EphemeralKey): KeyObject {
  try {
    if (key.crv === 'X25519') {
      return createPublicKey({
        key: { kty: 'OKP', crv: 'X25519', x: b64url(key.x) },
        format: 'jwk',
      });
    }
    return createPublicKey({
      key: { kty: 'EC', crv: 'P-256', x: b64url(key.x), y: b64url(key.y ?? new Uint8Array(0)) },
      format: 'jwk',
    });
  } catch (cause) {
    throw new CoreError(
      'MANIFEST_ENCRYPTION_INFO_MALFORMED',
      'the ephemeral key is not a valid point',
      { cause, details: { crv: key.crv } },
    );
  }
}

/**
 * Derives the AES-KW key from the ECDH shared secret: HKDF-SHA-256, no salt (RFC 9053 section 5.1).
 * A failed agreement is blamed on the peer key: on the device side that is the ephemeral key from
 * the structure (an X25519 low-order point, say), so `receiving` makes it a malformed structure.
 */
export function deriveKek(
  alg: KeyDistributionAlg,
  recipientProtected: Uint8Array,
  privateKey: KeyObject,
  publicKey: KeyObject,
  receiving = false,
): Uint8Array {
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey, publicKey });
  } catch (cause) {
    if (receiving) {
      throw new CoreError(
        'MANIFEST_ENCRYPTION_INFO_MALFORMED',
        'ECDH with the ephemeral key failed (invalid or low-order point)',
        { cause },
      );
    }
    throw new CoreError('MANIFEST_KEY_INVALID', 'ECDH failed: the keys do not agree', {
      cause,
    });
  }
  const info = kdfContext(alg, recipientProtected);
  return new Uint8Array(
    hkdfSync('sha256', shared, new Uint8Array(0), info, KEY_ALG_SPECS[alg].kekBytes),
  );
}

/** Sender side: a fresh ephemeral key pair on the recipient's curve and the derived KEK. */
export function senderKek(
  alg: KeyDistributionAlg,
  recipientProtected: Uint8Array,
  recipientPublicKey: KeyObject,
): { kek: Uint8Array; ephemeralKey: EphemeralKey } {
  const curve = ecdhCurveOf(recipientPublicKey);
  if (curve === undefined || recipientPublicKey.type !== 'public') {
    throw new CoreError(
      'MANIFEST_KEY_INVALID',
      'an ECDH-ES recipient needs a P-256 or X25519 public key',
      { details: { type: recipientPublicKey.type, keyType: recipientPublicKey.asymmetricKeyType } },
    );
  }
  const pair =
    curve === 'X25519'
      ? generateKeyPairSync('x25519')
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = pair.publicKey.export({ format: 'jwk' });
  const x = Buffer.from(jwk.x ?? '', 'base64url');
  const ephemeralKey: EphemeralKey =
    curve === 'X25519'
      ? { crv: curve, x }
      : { crv: curve, x, y: Buffer.from(jwk.y ?? '', 'base64url') };
  const kek = deriveKek(alg, recipientProtected, pair.privateKey, recipientPublicKey);
  return { kek, ephemeralKey };
}
