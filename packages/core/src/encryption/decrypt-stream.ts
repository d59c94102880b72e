import { Transform, type TransformCallback } from 'node:stream';
import type { RecipientKey } from './content-key.js';
import type { EncryptionInfo } from './encryption-info.js';
import { createPayloadDecipher } from './payload-decipher.js';

/** Options of {@link createDecryptStream}. */
export interface DecryptStreamOptions {
  /** Stream buffer size in bytes (default 256 KiB, the fastest chunk size in bench/decrypt.bench.ts). */
  readonly highWaterMark?: number;
}

const DEFAULT_HIGH_WATER_MARK = 256 * 1024;

/**
 * Opens the SUIT_Encryption_Info (decode + unwrap the CEK, so a wrong key fails before any data
 * flows) and returns a Transform that turns ciphertext into plaintext chunk by chunk, holding
 * at most one chunk plus the 16-byte GCM tag in memory.
 *
 * AES-GCM: plaintext is emitted BEFORE the tag at the end is checked. A consumer may write it to
 * a scratch place (the inactive slot) but must not act on it (mark it bootable, execute, parse)
 * until the stream has ended without error; a bad tag ends the stream with
 * `MANIFEST_DECRYPTION_FAILED`. AES-CTR has no tag: the SUIT image digest over the plaintext,
 * checked after the stream ends, is what protects it.
 *
 * @throws CoreError at creation: `MANIFEST_ENCRYPTION_INFO_MALFORMED`, `MANIFEST_UNSUPPORTED`,
 *   `MANIFEST_RECIPIENT_NOT_FOUND`, `MANIFEST_KEY_UNWRAP_FAILED`, `MANIFEST_KEY_INVALID`
 * @example
 *   await pipeline(createReadStream('fw.enc'), createDecryptStream(infoBytes, deviceKey), slotWriter);
 */
export function createDecryptStream(
  encryptionInfo: Uint8Array | EncryptionInfo,
  recipientKey: RecipientKey,
  options: DecryptStreamOptions = {},
): Transform {
  const decipher = createPayloadDecipher(encryptionInfo, recipientKey);
  return new Transform({
    highWaterMark: options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK,
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      callback(null, decipher.update(chunk));
    },
    flush(callback: TransformCallback) {
      try {
        callback(null, decipher.final());
      } catch (error) {
        callback(error as Error);
      }
    },
  });
}
