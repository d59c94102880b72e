import { KeyObject, randomBytes } from 'node:crypto';
import { CoreError } from '../errors.js';
import {
  CONTENT_ALG_SPECS,
  type ContentEncryptionAlg,
  isKeyDistributionAlg,
  KEY_ALG_SPECS,
  type KeyDistributionAlg,
} from './algorithms.js';
import { deriveKek, ecdhCurveOf, importEphemeralKey, senderKek } from './ecdh-es.js';
import {
  type EncryptionInfo,
  type EncryptionRecipientInfo,
  recipientProtectedHeader,
} from './encryption-info.js';
import { unwrapKey, wrapKey } from './key-wrap.js';

/**
 * The key a device (or a build machine) opens a SUIT_Encryption_Info with: a pre-shared
 * key-encryption key (bytes or a secret KeyObject) for AES-KW recipients, or the device's private
 * key (P-256 or X25519 KeyObject) for ECDH-ES recipients. Give `kid` to pick the recipient by key
 * id; without it every recipient of the matching algorithm family is tried.
 */
export type RecipientKey =
  | KeyObject
  | Uint8Array
  | { readonly key: KeyObject | Uint8Array; readonly kid?: Uint8Array | string };

/**
 * Who may decrypt: a device class sharing a pre-shared KEK (`kek`, AES-KW) or a single device,
 * by its public key (`publicKey`, ECDH-ES + AES-KW on P-256 or X25519).
 */
export type EncryptionRecipient =
  | {
      /** Pre-shared key-encryption key of a device class: 16 bytes (A128KW) or 32 bytes (A256KW). */
      readonly kek: KeyObject | Uint8Array;
      readonly kid?: Uint8Array | string;
      /** Defaults from the KEK size. */
      readonly alg?: 'A128KW' | 'A256KW';
    }
  | {
      /** A device's P-256 or X25519 public key. */
      readonly publicKey: KeyObject;
      readonly kid?: Uint8Array | string;
      /** Defaults to ECDH-ES+A128KW (the SUIT MTI profiles' choice). */
      readonly alg?: 'ECDH-ES+A128KW' | 'ECDH-ES+A256KW';
    };

function keyInvalid(message: string, details: Record<string, unknown> = {}): CoreError {
  return new CoreError('MANIFEST_KEY_INVALID', message, { details });
}

function kidBytes(kid: unknown): Uint8Array | undefined {
  if (kid === undefined) return undefined;
  if (typeof kid === 'string') return new TextEncoder().encode(kid);
  if (kid instanceof Uint8Array) return kid;
  throw keyInvalid('a kid is a string or bytes');
}

/** The bytes of a symmetric key, undefined for an asymmetric KeyObject; anything else is refused. */
function secretBytes(key: unknown): Uint8Array | undefined {
  if (key instanceof Uint8Array) return key;
  if (!(key instanceof KeyObject)) throw keyInvalid('a key must be bytes or a node KeyObject');
  return key.type === 'secret' ? key.export() : undefined;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

type NormalizedKey =
  | { kind: 'kek'; kek: Uint8Array; kid: Uint8Array | undefined }
  | { kind: 'ecdh'; privateKey: KeyObject; kid: Uint8Array | undefined };

function normalizeKey(recipientKey: RecipientKey): NormalizedKey {
  const isWrapped =
    typeof recipientKey === 'object' &&
    recipientKey !== null &&
    !(recipientKey instanceof Uint8Array) &&
    !(recipientKey instanceof KeyObject);
  const key: unknown = isWrapped ? recipientKey.key : recipientKey;
  const kid = isWrapped ? kidBytes(recipientKey.kid) : undefined;
  const kek = secretBytes(key);
  if (kek !== undefined) {
    if (kek.length !== 16 && kek.length !== 32) {
      throw new CoreError('MANIFEST_KEY_INVALID', 'a key-encryption key is 16 or 32 bytes', {
        details: { length: kek.length },
      });
    }
    return { kind: 'kek', kek, kid };
  }
  const asymmetric = key as KeyObject;
  if (asymmetric.type !== 'private' || ecdhCurveOf(asymmetric) === undefined) {
    throw new CoreError(
      'MANIFEST_KEY_INVALID',
      'decryption needs a key-encryption key or a P-256 / X25519 private key',
      { details: { type: asymmetric.type, keyType: asymmetric.asymmetricKeyType } },
    );
  }
  return { kind: 'ecdh', privateKey: asymmetric, kid };
}

function usable(recipient: EncryptionRecipientInfo, key: NormalizedKey): boolean {
  const spec = KEY_ALG_SPECS[recipient.alg];
  if (key.kid && recipient.kid && !sameBytes(key.kid, recipient.kid)) return false;
  if (key.kind === 'kek') return !spec.ecdh && spec.kekBytes === key.kek.length;
  return spec.ecdh && recipient.ephemeralKey?.crv === ecdhCurveOf(key.privateKey);
}

function unwrapFor(recipient: EncryptionRecipientInfo, key: NormalizedKey): Uint8Array {
  if (key.kind === 'kek') return unwrapKey(key.kek, recipient.encryptedKey);
  // usable() guarantees an ephemeral key on an ECDH recipient.
  const ephemeral = importEphemeralKey(
    recipient.ephemeralKey as NonNullable<typeof recipient.ephemeralKey>,
  );
  const kek = deriveKek(recipient.alg, recipient.protectedHeader, key.privateKey, ephemeral, true);
  return unwrapKey(kek, recipient.encryptedKey);
}

/**
 * Finds the recipient the key belongs to and unwraps the content-encryption key (CEK).
 *
 * @throws CoreError `MANIFEST_RECIPIENT_NOT_FOUND` (no recipient for this kind of key / kid),
 *   `MANIFEST_KEY_UNWRAP_FAILED` (wrong key or tampered recipient), `MANIFEST_KEY_INVALID`
 */
export function unwrapContentKey(info: EncryptionInfo, recipientKey: RecipientKey): Uint8Array {
  const key = normalizeKey(recipientKey);
  const candidates = info.recipients.filter((r) => usable(r, key));
  if (candidates.length === 0) {
    throw new CoreError('MANIFEST_RECIPIENT_NOT_FOUND', 'no recipient matches the given key', {
      details: { recipients: info.recipients.map((r) => r.alg), keyKind: key.kind },
    });
  }
  let lastError: unknown;
  for (const recipient of candidates) {
    try {
      const cek = unwrapFor(recipient, key);
      if (cek.length !== CONTENT_ALG_SPECS[info.contentAlg].keyBytes) {
        throw new CoreError(
          'MANIFEST_KEY_UNWRAP_FAILED',
          `the unwrapped key does not fit ${info.contentAlg}`,
          { details: { length: cek.length } },
        );
      }
      return cek;
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

/** Generates a fresh content-encryption key for `alg`. */
export function generateContentKey(alg: ContentEncryptionAlg): Uint8Array {
  return randomBytes(CONTENT_ALG_SPECS[alg].keyBytes);
}

/** Wraps `cek` for one recipient: AES-KW with its KEK, or ECDH-ES + AES-KW to its public key. */
export function wrapContentKey(
  cek: Uint8Array,
  recipient: EncryptionRecipient,
): EncryptionRecipientInfo {
  const kid = kidBytes(recipient.kid);
  if ('kek' in recipient) {
    const kek = secretBytes(recipient.kek);
    if (kek === undefined)
      throw new CoreError('MANIFEST_KEY_INVALID', 'a KEK must be a secret key');
    const alg: KeyDistributionAlg = recipient.alg ?? (kek.length === 32 ? 'A256KW' : 'A128KW');
    // Callers from plain JavaScript (or a config file) can name any algorithm: check at runtime.
    if (!isKeyDistributionAlg(alg) || KEY_ALG_SPECS[alg].ecdh) {
      throw keyInvalid(`${String(alg)} is not a key-wrap algorithm for a KEK`);
    }
    if (KEY_ALG_SPECS[alg].kekBytes !== kek.length) {
      throw new CoreError(
        'MANIFEST_KEY_INVALID',
        `${alg} needs a ${KEY_ALG_SPECS[alg].kekBytes}-byte KEK`,
        {
          details: { length: kek.length },
        },
      );
    }
    return {
      alg,
      protectedHeader: recipientProtectedHeader(alg),
      encryptedKey: wrapKey(kek, cek),
      ...(kid ? { kid } : {}),
    };
  }
  const alg: KeyDistributionAlg = recipient.alg ?? 'ECDH-ES+A128KW';
  if (!isKeyDistributionAlg(alg) || !KEY_ALG_SPECS[alg].ecdh) {
    throw keyInvalid(`${String(alg)} is not an ECDH-ES algorithm for a device key`);
  }
  if (!(recipient.publicKey instanceof KeyObject)) {
    throw keyInvalid(
      'a recipient needs `kek` (bytes or a secret KeyObject) or `publicKey` (a KeyObject)',
    );
  }
  const protectedHeader = recipientProtectedHeader(alg);
  const { kek, ephemeralKey } = senderKek(alg, protectedHeader, recipient.publicKey);
  return {
    alg,
    protectedHeader,
    ephemeralKey,
    encryptedKey: wrapKey(kek, cek),
    ...(kid ? { kid } : {}),
  };
}
