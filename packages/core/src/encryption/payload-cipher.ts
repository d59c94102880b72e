import { type CipherGCM, randomBytes } from 'node:crypto';
import { CoreError } from '../errors.js';
import {
  CONTENT_ALG_SPECS,
  type ContentEncryptionAlg,
  isContentEncryptionAlg,
} from './algorithms.js';
import { createContentCipher } from './content-cipher.js';
import { type EncryptionRecipient, generateContentKey, wrapContentKey } from './content-key.js';
import {
  contentProtectedHeader,
  type EncryptionInfo,
  encodeEncryptionInfo,
} from './encryption-info.js';

/** What to encrypt with and for whom. */
export interface EncryptOptions {
  /** Content encryption: A128GCM/A256GCM (AEAD) or A128CTR/A256CTR (streaming devices). */
  readonly contentAlg: ContentEncryptionAlg;
  /** One or more recipients; they all receive the same CEK, so the payload is encrypted once. */
  readonly recipients: readonly EncryptionRecipient[];
}

/**
 * Incremental encryption of one payload, without streams. The SUIT_Encryption_Info is complete
 * before the first byte: the ciphertext is detached and the GCM tag travels at its end.
 */
export interface PayloadCipher {
  /** SUIT_Encryption_Info bytes: put them in suit-parameter-encryption-info. */
  readonly encryptionInfo: Uint8Array;
  readonly info: EncryptionInfo;
  /** Ciphertext for this chunk of plaintext. */
  update(plaintext: Uint8Array): Buffer;
  /** The last ciphertext bytes; for AES-GCM followed by the 16-byte tag. */
  final(): Buffer;
}

/**
 * Draws a fresh CEK and IV, wraps the CEK for every recipient — a device class by its pre-shared
 * KEK (AES-KW) or a single device by its public key (ECDH-ES+AES-KW) — and returns the cipher.
 *
 * @throws CoreError `MANIFEST_UNSUPPORTED` (content algorithm), `MANIFEST_KEY_INVALID` (no
 *   recipient, a wrong-sized KEK, an unusable public key)
 */
export function createPayloadCipher(options: EncryptOptions): PayloadCipher {
  if (!isContentEncryptionAlg(options.contentAlg)) {
    throw new CoreError(
      'MANIFEST_UNSUPPORTED',
      `unsupported content algorithm ${String(options.contentAlg)}`,
    );
  }
  if (!Array.isArray(options.recipients) || options.recipients.length === 0) {
    throw new CoreError('MANIFEST_KEY_INVALID', 'encryption needs at least one recipient');
  }
  const spec = CONTENT_ALG_SPECS[options.contentAlg];
  const cek = generateContentKey(options.contentAlg);
  const iv = randomBytes(spec.ivBytes);
  const info: EncryptionInfo = {
    contentAlg: options.contentAlg,
    protectedHeader: contentProtectedHeader(options.contentAlg),
    iv,
    ciphertext: null,
    recipients: options.recipients.map((r) => wrapContentKey(cek, r)),
  };
  const cipher = createContentCipher({
    alg: info.contentAlg,
    cek,
    iv,
    protectedHeader: info.protectedHeader,
  });
  return {
    encryptionInfo: encodeEncryptionInfo(info),
    info,
    update: (plaintext) => cipher.update(plaintext),
    final() {
      const last = cipher.final();
      return spec.aead ? Buffer.concat([last, (cipher as CipherGCM).getAuthTag()]) : last;
    },
  };
}
