/**
 * The COSE algorithms of SUIT payload encryption (draft-ietf-suit-firmware-encryption) that
 * Updraft implements, as closed sets with their COSE identifiers (RFC 9053, RFC 9459).
 */

/** Content-encryption algorithms: AES-GCM (AEAD) and AES-CTR (for devices that decrypt while streaming). */
export const CONTENT_ENCRYPTION_ALGS = ['A128GCM', 'A256GCM', 'A128CTR', 'A256CTR'] as const;
export type ContentEncryptionAlg = (typeof CONTENT_ENCRYPTION_ALGS)[number];

/** Key-distribution algorithms: AES-KW with a pre-shared KEK, or ECDH-ES + AES-KW to a device key. */
export const KEY_DISTRIBUTION_ALGS = [
  'A128KW',
  'A256KW',
  'ECDH-ES+A128KW',
  'ECDH-ES+A256KW',
] as const;
export type KeyDistributionAlg = (typeof KEY_DISTRIBUTION_ALGS)[number];

/** Curves accepted for ECDH-ES (RFC 9053 section 6.3 allows both for ECDH-ES+AES-KW). */
export const ECDH_CURVES = ['P-256', 'X25519'] as const;
export type EcdhCurve = (typeof ECDH_CURVES)[number];

export function isContentEncryptionAlg(value: unknown): value is ContentEncryptionAlg {
  return (CONTENT_ENCRYPTION_ALGS as readonly unknown[]).includes(value);
}

export function isKeyDistributionAlg(value: unknown): value is KeyDistributionAlg {
  return (KEY_DISTRIBUTION_ALGS as readonly unknown[]).includes(value);
}

export function isEcdhCurve(value: unknown): value is EcdhCurve {
  return (ECDH_CURVES as readonly unknown[]).includes(value);
}

/** What each content-encryption algorithm needs. */
export interface ContentAlgSpec {
  readonly coseId: number;
  readonly keyBytes: 16 | 32;
  /** GCM: 96-bit nonce; CTR: the full 128-bit initial counter block (RFC 9459). */
  readonly ivBytes: 12 | 16;
  /** AEAD algorithms append a 16-byte tag to the ciphertext and authenticate the protected header. */
  readonly aead: boolean;
  readonly nodeCipher: 'aes-128-gcm' | 'aes-256-gcm' | 'aes-128-ctr' | 'aes-256-ctr';
}

export const CONTENT_ALG_SPECS: Readonly<Record<ContentEncryptionAlg, ContentAlgSpec>> = {
  A128GCM: { coseId: 1, keyBytes: 16, ivBytes: 12, aead: true, nodeCipher: 'aes-128-gcm' },
  A256GCM: { coseId: 3, keyBytes: 32, ivBytes: 12, aead: true, nodeCipher: 'aes-256-gcm' },
  A128CTR: { coseId: -65534, keyBytes: 16, ivBytes: 16, aead: false, nodeCipher: 'aes-128-ctr' },
  A256CTR: { coseId: -65532, keyBytes: 32, ivBytes: 16, aead: false, nodeCipher: 'aes-256-ctr' },
};

/** What each key-distribution algorithm needs. */
export interface KeyAlgSpec {
  readonly coseId: number;
  /** Size of the AES-KW key-encryption key (pre-shared, or derived by HKDF for ECDH-ES). */
  readonly kekBytes: 16 | 32;
  readonly ecdh: boolean;
  /** COSE id of the AES-KW algorithm itself: the KDF context's AlgorithmID for ECDH-ES. */
  readonly keyWrapCoseId: number;
}

export const KEY_ALG_SPECS: Readonly<Record<KeyDistributionAlg, KeyAlgSpec>> = {
  A128KW: { coseId: -3, kekBytes: 16, ecdh: false, keyWrapCoseId: -3 },
  A256KW: { coseId: -5, kekBytes: 32, ecdh: false, keyWrapCoseId: -5 },
  'ECDH-ES+A128KW': { coseId: -29, kekBytes: 16, ecdh: true, keyWrapCoseId: -3 },
  'ECDH-ES+A256KW': { coseId: -31, kekBytes: 32, ecdh: true, keyWrapCoseId: -5 },
};

/** Size of the AES-GCM authentication tag appended to the ciphertext. */
export const GCM_TAG_BYTES = 16;

export function contentAlgFromCoseId(id: number): ContentEncryptionAlg | undefined {
  return CONTENT_ENCRYPTION_ALGS.find((alg) => CONTENT_ALG_SPECS[alg].coseId === id);
}

export function keyAlgFromCoseId(id: number): KeyDistributionAlg | undefined {
  return KEY_DISTRIBUTION_ALGS.find((alg) => KEY_ALG_SPECS[alg].coseId === id);
}

/** Length of the ciphertext for a plaintext of `plaintextBytes` (AEAD adds the tag). */
export function ciphertextLength(alg: ContentEncryptionAlg, plaintextBytes: number): number {
  return plaintextBytes + (CONTENT_ALG_SPECS[alg].aead ? GCM_TAG_BYTES : 0);
}
