import type { DecipherGCM } from 'node:crypto';
import { CoreError } from '../errors.js';
import { CONTENT_ALG_SPECS, GCM_TAG_BYTES } from './algorithms.js';
import { createContentDecipher } from './content-cipher.js';
import { type RecipientKey, unwrapContentKey } from './content-key.js';
import { decodeEncryptionInfo, type EncryptionInfo } from './encryption-info.js';

/**
 * Incremental decryption of one payload, without streams: feed ciphertext in any chunking with
 * `update()`, then call `final()` once. For AES-GCM the last 16 bytes seen are the tag, so
 * `update()` holds back the latest 16 bytes and `final()` checks them.
 */
export interface PayloadDecipher {
  /** The plaintext for this chunk (may be shorter than the chunk, or empty, for AES-GCM). */
  update(ciphertext: Uint8Array): Buffer;
  /**
   * Ends the payload: for AES-GCM checks the tag. Plaintext returned earlier must not be acted
   * upon before this returned without throwing.
   *
   * @throws CoreError `MANIFEST_DECRYPTION_FAILED` (tag mismatch, or fewer than 16 bytes in all)
   */
  final(): Buffer;
}

function decryptionFailed(cause?: unknown): CoreError {
  return new CoreError(
    'MANIFEST_DECRYPTION_FAILED',
    'the payload did not decrypt: authentication tag mismatch (tampered or truncated ciphertext)',
    cause === undefined ? {} : { cause },
  );
}

/** Decodes `encryptionInfo` when given as bytes. */
export function toEncryptionInfo(encryptionInfo: Uint8Array | EncryptionInfo): EncryptionInfo {
  return encryptionInfo instanceof Uint8Array
    ? decodeEncryptionInfo(encryptionInfo)
    : encryptionInfo;
}

/**
 * Opens a SUIT_Encryption_Info with the recipient's key (decode, find the recipient, unwrap the
 * CEK — a wrong key fails here, before any payload byte) and returns an incremental decipher.
 *
 * @throws CoreError `MANIFEST_ENCRYPTION_INFO_MALFORMED`, `MANIFEST_UNSUPPORTED`,
 *   `MANIFEST_RECIPIENT_NOT_FOUND`, `MANIFEST_KEY_UNWRAP_FAILED`, `MANIFEST_KEY_INVALID`
 * @example
 *   const d = createPayloadDecipher(infoBytes, deviceKey);
 *   for await (const chunk of download) await slot.write(d.update(chunk));
 *   await slot.write(d.final()); // only now is the GCM tag checked
 */
export function createPayloadDecipher(
  encryptionInfo: Uint8Array | EncryptionInfo,
  recipientKey: RecipientKey,
): PayloadDecipher {
  const info = toEncryptionInfo(encryptionInfo);
  const cek = unwrapContentKey(info, recipientKey);
  const decipher = createContentDecipher({
    alg: info.contentAlg,
    cek,
    iv: info.iv,
    protectedHeader: info.protectedHeader,
  });
  if (!CONTENT_ALG_SPECS[info.contentAlg].aead) {
    return { update: (chunk) => decipher.update(chunk), final: () => decipher.final() };
  }
  let tail: Buffer = Buffer.alloc(0);
  let ended = false;
  return {
    update(chunk) {
      if (ended) throw new CoreError('MANIFEST_DECRYPTION_FAILED', 'data after final()');
      if (chunk.length >= GCM_TAG_BYTES) {
        const head = decipher.update(tail);
        const body = decipher.update(chunk.subarray(0, chunk.length - GCM_TAG_BYTES));
        tail = Buffer.from(chunk.subarray(chunk.length - GCM_TAG_BYTES));
        return head.length === 0 ? body : Buffer.concat([head, body]);
      }
      const joined = Buffer.concat([tail, chunk]);
      const release = Math.max(0, joined.length - GCM_TAG_BYTES);
      tail = joined.subarray(release);
      return decipher.update(joined.subarray(0, release));
    },
    final() {
      ended = true;
      if (tail.length < GCM_TAG_BYTES) throw decryptionFailed();
      try {
        (decipher as DecipherGCM).setAuthTag(tail);
        return decipher.final();
      } catch (cause) {
        throw decryptionFailed(cause);
      }
    },
  };
}
