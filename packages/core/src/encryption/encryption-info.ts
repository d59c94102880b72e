import { decodeCbor } from '../cbor/cbor-decode.js';
import { encodeCbor } from '../cbor/cbor-encode.js';
import { CborMap, CborTag, type CborValue } from '../cbor/cbor-types.js';
import { CoreError } from '../errors.js';
import {
  CONTENT_ALG_SPECS,
  type ContentEncryptionAlg,
  contentAlgFromCoseId,
  type EcdhCurve,
  KEY_ALG_SPECS,
  type KeyDistributionAlg,
  keyAlgFromCoseId,
} from './algorithms.js';

/**
 * SUIT_Encryption_Info (draft-ietf-suit-firmware-encryption): a tagged COSE_Encrypt (tag 96) with
 * a detached (nil) or attached ciphertext and one or more recipients that each carry the
 * content-encryption key (CEK) wrapped for one key holder.
 */
export interface EncryptionInfo {
  readonly contentAlg: ContentEncryptionAlg;
  /** The serialized protected header exactly as carried: the AEAD's AAD is built from these bytes. */
  readonly protectedHeader: Uint8Array;
  readonly iv: Uint8Array;
  /** `null` when the ciphertext is detached (the SUIT norm: the payload travels separately). */
  readonly ciphertext: Uint8Array | null;
  readonly recipients: readonly EncryptionRecipientInfo[];
}

/** One COSE_recipient: the CEK wrapped for one KEK holder (AES-KW) or one device key (ECDH-ES). */
export interface EncryptionRecipientInfo {
  readonly alg: KeyDistributionAlg;
  /** Serialized recipient protected header as carried (input to the ECDH-ES KDF context). */
  readonly protectedHeader: Uint8Array;
  readonly kid?: Uint8Array;
  /** The sender's ephemeral public key (ECDH-ES only). */
  readonly ephemeralKey?: EphemeralKey;
  /** The CEK wrapped with AES-KW (RFC 3394): key length + 8 bytes. */
  readonly encryptedKey: Uint8Array;
}

/** An ephemeral public key as carried in a COSE_Key (EC2 P-256 or OKP X25519). */
export interface EphemeralKey {
  readonly crv: EcdhCurve;
  readonly x: Uint8Array;
  /** EC2 only (uncompressed points; compressed points are not supported). */
  readonly y?: Uint8Array;
}

/** Limits applied while decoding. A real SUIT_Encryption_Info is a few hundred bytes. */
export const ENCRYPTION_INFO_LIMITS = Object.freeze({
  /** Largest accepted encoded SUIT_Encryption_Info. */
  maxBytes: 64 * 1024,
  /** Most recipients in one structure (one per device class or device). */
  maxRecipients: 256,
  /** Deepest CBOR nesting of arrays, maps and tags (an ECDH-ES structure needs 6). */
  maxDepth: 16,
});

const COSE_ENCRYPT_TAG = 96;
const COSE_ENCRYPT0_TAG = 16;
const EMPTY = new Uint8Array(0);
const EMPTY_MAP = new CborMap([]);

// COSE header labels (RFC 9052 section 3.1, RFC 9053 section 6.4).
const H_ALG = 1;
const H_CRIT = 2;
const H_KID = 4;
const H_IV = 5;
const H_EPHEMERAL_KEY = -1;

// COSE_Key labels (RFC 9052 section 7, RFC 9053 section 7).
const K_KTY = 1;
const K_CRV = -1;
const K_X = -2;
const K_Y = -3;
const KTY_OKP = 1;
const KTY_EC2 = 2;
const CRV_P256 = 1;
const CRV_X25519 = 4;

function malformed(message: string, details: Record<string, unknown> = {}): CoreError {
  return new CoreError('MANIFEST_ENCRYPTION_INFO_MALFORMED', message, { details });
}

function unsupported(message: string, details: Record<string, unknown> = {}): CoreError {
  return new CoreError('MANIFEST_UNSUPPORTED', message, { details });
}

/**
 * Decodes with the project's strict codec (definite lengths, shortest form, no duplicate keys, no
 * floats; tags stay tags, so no bignum or typed array poses as an int or a bstr). Its
 * MANIFEST_MALFORMED becomes this structure's own code, with the same reason and offset.
 */
function decodeStrict(bytes: Uint8Array, what: string): CborValue {
  try {
    return decodeCbor(bytes, {
      context: what,
      limits: {
        maxBytes: ENCRYPTION_INFO_LIMITS.maxBytes,
        maxDepth: ENCRYPTION_INFO_LIMITS.maxDepth,
      },
    });
  } catch (cause) {
    if (!(cause instanceof CoreError)) throw cause;
    throw new CoreError('MANIFEST_ENCRYPTION_INFO_MALFORMED', cause.message, {
      cause,
      details: cause.details,
    });
  }
}

function asBytes(value: CborValue | undefined, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw malformed(`${what} must be a byte string`);
  return value;
}

function asMap(value: CborValue | undefined, what: string): CborMap {
  if (!(value instanceof CborMap)) throw malformed(`${what} must be a map`);
  return value;
}

function asInt(value: CborValue | undefined, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw malformed(`${what} must be an integer`);
  }
  return value;
}

/** Decodes a serialized header map: a zero-length bstr means an empty map (RFC 9052 section 3). */
function decodeProtected(bytes: Uint8Array, what: string): CborMap {
  if (bytes.length === 0) return EMPTY_MAP;
  return asMap(decodeStrict(bytes, what), what);
}

function checkLabels(map: CborMap, allowed: readonly number[], what: string): void {
  for (const label of map.keys()) {
    if (label === H_CRIT) throw unsupported(`${what} has critical header parameters (crit)`);
    if (typeof label !== 'number' || !allowed.includes(label)) {
      // Default-deny: a header we do not understand might change how the content must be processed.
      throw unsupported(`${what} has an unsupported header parameter ${String(label)}`, {
        label: String(label),
      });
    }
  }
}

/** Reads a header that must appear in exactly one of the protected and unprotected maps. */
function oneOf(
  protectedMap: CborMap,
  unprotected: CborMap,
  label: number,
  what: string,
): CborValue | undefined {
  const inProtected = protectedMap.has(label);
  const inUnprotected = unprotected.has(label);
  if (inProtected && inUnprotected) {
    throw malformed(`${what}: header ${label} appears in both protected and unprotected headers`);
  }
  return inProtected ? protectedMap.get(label) : unprotected.get(label);
}

function decodeEphemeralKey(value: CborValue | undefined): EphemeralKey {
  const key = asMap(value, 'ephemeral key');
  for (const label of key.keys()) {
    if (![K_KTY, K_CRV, K_X, K_Y].includes(label as number)) {
      throw unsupported(`ephemeral key has an unsupported parameter ${String(label)}`);
    }
  }
  const kty = asInt(key.get(K_KTY), 'ephemeral key kty');
  const crv = asInt(key.get(K_CRV), 'ephemeral key crv');
  const x = asBytes(key.get(K_X), 'ephemeral key x');
  if (kty === KTY_EC2 && crv === CRV_P256) {
    const y = key.get(K_Y);
    if (typeof y === 'boolean')
      throw unsupported('compressed P-256 ephemeral keys are not supported');
    const yBytes = asBytes(y, 'ephemeral key y');
    if (x.length !== 32 || yBytes.length !== 32)
      throw malformed('P-256 coordinates must be 32 bytes');
    return { crv: 'P-256', x, y: yBytes };
  }
  if (kty === KTY_OKP && crv === CRV_X25519) {
    if (key.has(K_Y)) throw malformed('an X25519 key has no y coordinate');
    if (x.length !== 32) throw malformed('X25519 public keys are 32 bytes');
    return { crv: 'X25519', x };
  }
  throw unsupported(`ephemeral key type ${kty} / curve ${crv} is not supported`, { kty, crv });
}

function decodeRecipient(value: CborValue, index: number): EncryptionRecipientInfo {
  const what = `recipient ${index}`;
  if (!Array.isArray(value) || value.length !== 3) {
    throw malformed(`${what} must be a COSE_recipient array of 3`);
  }
  const [protectedRaw, unprotectedRaw, encryptedKeyRaw] = value as readonly CborValue[];
  const protectedHeader = asBytes(protectedRaw, `${what} protected header`);
  const protectedMap = decodeProtected(protectedHeader, `${what} protected header`);
  const unprotected = asMap(unprotectedRaw, `${what} unprotected header`);
  checkLabels(protectedMap, [H_ALG], `${what} protected header`);
  checkLabels(unprotected, [H_ALG, H_KID, H_EPHEMERAL_KEY], `${what} unprotected header`);
  const algId = asInt(oneOf(protectedMap, unprotected, H_ALG, what), `${what} alg`);
  const alg = keyAlgFromCoseId(algId);
  if (alg === undefined) {
    throw unsupported(`${what} uses unsupported key distribution algorithm ${algId}`, {
      alg: algId,
    });
  }
  const spec = KEY_ALG_SPECS[alg];
  const encryptedKey = asBytes(encryptedKeyRaw, `${what} ciphertext`);
  // AES-KW output is the wrapped key plus one 64-bit block; the CEK is 128 or 256 bits.
  if (encryptedKey.length !== 24 && encryptedKey.length !== 40) {
    throw malformed(`${what} wrapped key must be 24 or 40 bytes`, { length: encryptedKey.length });
  }
  // `has`, not `get() === undefined`: a kid encoded as CBOR undefined is malformed, not absent.
  const kid = unprotected.has(H_KID) ? asBytes(unprotected.get(H_KID), `${what} kid`) : undefined;
  if (spec.ecdh) {
    if (protectedHeader.length === 0) {
      // The KDF context binds the recipient protected header, which must carry the algorithm.
      throw malformed(`${what}: ECDH-ES needs the algorithm in the protected header`);
    }
    if (!unprotected.has(H_EPHEMERAL_KEY)) throw malformed(`${what} has no ephemeral key`);
    const ephemeralKey = decodeEphemeralKey(unprotected.get(H_EPHEMERAL_KEY));
    return { alg, protectedHeader, encryptedKey, ephemeralKey, ...(kid ? { kid } : {}) };
  }
  if (unprotected.has(H_EPHEMERAL_KEY)) throw malformed(`${what}: AES-KW takes no ephemeral key`);
  if (protectedMap.size !== 0) {
    // RFC 9053 section 6.2.1: AES-KW has no protected parameters.
    throw malformed(`${what}: the AES-KW protected header must be empty`);
  }
  return { alg, protectedHeader, encryptedKey, ...(kid ? { kid } : {}) };
}

/**
 * Decodes and checks a SUIT_Encryption_Info. Strict: unknown headers, `crit`, wrong IV lengths,
 * a non-empty protected header with AES-CTR, oversize input — all rejected.
 *
 * @throws CoreError `MANIFEST_ENCRYPTION_INFO_MALFORMED` or `MANIFEST_UNSUPPORTED`
 * @example
 *   const info = decodeEncryptionInfo(bytes);
 *   console.log(info.contentAlg, info.recipients.map((r) => r.alg));
 */
export function decodeEncryptionInfo(bytes: Uint8Array): EncryptionInfo {
  if (!(bytes instanceof Uint8Array)) throw malformed('SUIT_Encryption_Info must be bytes');
  if (bytes.length > ENCRYPTION_INFO_LIMITS.maxBytes) {
    throw malformed('SUIT_Encryption_Info is too large', {
      bytes: bytes.length,
      limit: ENCRYPTION_INFO_LIMITS.maxBytes,
    });
  }
  const top = decodeStrict(bytes, 'SUIT_Encryption_Info');
  if (!(top instanceof CborTag))
    throw malformed('SUIT_Encryption_Info must be a tagged COSE_Encrypt');
  if (top.tag === COSE_ENCRYPT0_TAG) {
    throw unsupported('COSE_Encrypt0 (a pre-shared CEK without recipients) is not supported');
  }
  if (top.tag !== COSE_ENCRYPT_TAG) throw malformed(`unexpected tag ${String(top.tag)}`);
  const body = top.value;
  if (!Array.isArray(body) || body.length !== 4) {
    throw malformed('COSE_Encrypt must be an array of 4');
  }
  const [protectedRaw, unprotectedRaw, ciphertextRaw, recipientsRaw] = body as readonly CborValue[];
  const protectedHeader = asBytes(protectedRaw, 'protected header');
  const protectedMap = decodeProtected(protectedHeader, 'protected header');
  const unprotected = asMap(unprotectedRaw, 'unprotected header');
  checkLabels(protectedMap, [H_ALG], 'protected header');
  checkLabels(unprotected, [H_ALG, H_IV], 'unprotected header');
  const algId = asInt(oneOf(protectedMap, unprotected, H_ALG, 'COSE_Encrypt'), 'content alg');
  const contentAlg = contentAlgFromCoseId(algId);
  if (contentAlg === undefined) {
    throw unsupported(`unsupported content encryption algorithm ${algId}`, { alg: algId });
  }
  const spec = CONTENT_ALG_SPECS[contentAlg];
  if (!spec.aead && protectedHeader.length !== 0) {
    // draft-ietf-suit-firmware-encryption: non-AEAD ciphers carry a zero-length protected header.
    throw malformed(`${contentAlg} requires a zero-length protected header`);
  }
  const iv = asBytes(unprotected.get(H_IV), 'IV');
  if (iv.length !== spec.ivBytes) {
    throw malformed(`${contentAlg} needs a ${spec.ivBytes}-byte IV`, { length: iv.length });
  }
  const ciphertext = ciphertextRaw === null ? null : asBytes(ciphertextRaw, 'ciphertext');
  if (!Array.isArray(recipientsRaw) || recipientsRaw.length === 0) {
    throw malformed('COSE_Encrypt needs at least one recipient');
  }
  if (recipientsRaw.length > ENCRYPTION_INFO_LIMITS.maxRecipients) {
    throw malformed('too many recipients', { count: recipientsRaw.length });
  }
  const recipients = recipientsRaw.map((r, i) => decodeRecipient(r, i));
  return { contentAlg, protectedHeader, iv, ciphertext, recipients };
}

function encodeEphemeralKey(key: EphemeralKey): CborMap {
  if (key.crv === 'P-256') {
    return CborMap.of([K_KTY, KTY_EC2], [K_CRV, CRV_P256], [K_X, key.x], [K_Y, key.y ?? EMPTY]);
  }
  return CborMap.of([K_KTY, KTY_OKP], [K_CRV, CRV_X25519], [K_X, key.x]);
}

/** The serialized protected header for a content algorithm (empty for non-AEAD, per the draft). */
export function contentProtectedHeader(alg: ContentEncryptionAlg): Uint8Array {
  const spec = CONTENT_ALG_SPECS[alg];
  return spec.aead ? encodeCbor(CborMap.of([H_ALG, spec.coseId])) : EMPTY;
}

/** The serialized recipient protected header (the algorithm for ECDH-ES, empty for AES-KW). */
export function recipientProtectedHeader(alg: KeyDistributionAlg): Uint8Array {
  const spec = KEY_ALG_SPECS[alg];
  return spec.ecdh ? encodeCbor(CborMap.of([H_ALG, spec.coseId])) : EMPTY;
}

/**
 * Encodes a SUIT_Encryption_Info (COSE_Encrypt, tag 96). Decoding the result gives `info` back.
 * Header maps are written in the order of the draft's examples (alg, then IV / kid; the ephemeral
 * key before the kid), which is not the deterministic order: the encoder keeps the given order.
 */
export function encodeEncryptionInfo(info: EncryptionInfo): Uint8Array {
  const spec = CONTENT_ALG_SPECS[info.contentAlg];
  const unprotected: [CborValue, CborValue][] = [];
  if (!spec.aead) unprotected.push([H_ALG, spec.coseId]);
  unprotected.push([H_IV, info.iv]);
  const recipients = info.recipients.map((r) => {
    const header: [CborValue, CborValue][] = [];
    if (r.ephemeralKey) header.push([H_EPHEMERAL_KEY, encodeEphemeralKey(r.ephemeralKey)]);
    else header.push([H_ALG, KEY_ALG_SPECS[r.alg].coseId]);
    if (r.kid) header.push([H_KID, r.kid]);
    return [r.protectedHeader, new CborMap(header), r.encryptedKey];
  });
  const bytes = encodeCbor(
    new CborTag(COSE_ENCRYPT_TAG, [
      info.protectedHeader,
      new CborMap(unprotected),
      info.ciphertext,
      recipients,
    ]),
    { mapOrder: 'as-given' },
  );
  // Default-deny on our own output too: what we emit must pass our own strict decoder.
  decodeEncryptionInfo(bytes);
  return bytes;
}
