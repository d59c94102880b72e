import type { DecipherGCM } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { CoreError } from '../errors.js';
import { CONTENT_ALG_SPECS, GCM_TAG_BYTES } from './algorithms.js';
import { createContentDecipher } from './content-cipher.js';
import { type RecipientKey, unwrapContentKey } from './content-key.js';
import { decodeEncryptionInfo, type EncryptionInfo } from './encryption-info.js';

/** Options of {@link createDecryptStream}. */
export interface DecryptStreamOptions {
  /** Stream buffer size in bytes (default 1 MiB: large chunks keep per-chunk overhead low). */
  readonly highWaterMark?: number;
}

const DEFAULT_HIGH_WATER_MARK = 1024 * 1024;

function decryptionFailed(cause?: unknown): CoreError {
  return new CoreError(
    'MANIFEST_DECRYPTION_FAILED',
    'the payload did not decrypt: authentication tag mismatch (tampered or truncated ciphertext)',
    cause === undefined ? {} : { cause },
  );
}

/** Decodes the structure, unwraps the CEK and sets up the content decipher. */
function openEncryptionInfo(
  encryptionInfo: Uint8Array | EncryptionInfo,
  recipientKey: RecipientKey,
) {
  const info =
    encryptionInfo instanceof Uint8Array ? decodeEncryptionInfo(encryptionInfo) : encryptionInfo;
  const cek = unwrapContentKey(info, recipientKey);
  const decipher = createContentDecipher({
    alg: info.contentAlg,
    cek,
    iv: info.iv,
    protectedHeader: info.protectedHeader,
  });
  return { info, decipher };
}

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
  const { info, decipher } = openEncryptionInfo(encryptionInfo, recipientKey);
  const highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  if (!CONTENT_ALG_SPECS[info.contentAlg].aead) {
    return new Transform({
      highWaterMark,
      transform(chunk: Buffer, _encoding, callback: TransformCallback) {
        callback(null, decipher.update(chunk));
      },
      flush(callback: TransformCallback) {
        callback(null, decipher.final());
      },
    });
  }
  // GCM: the last 16 bytes of the stream are the tag, so always hold back the latest 16 bytes.
  let tail: Buffer = Buffer.alloc(0);
  return new Transform({
    highWaterMark,
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      if (chunk.length >= GCM_TAG_BYTES) {
        const head = decipher.update(tail);
        const body = decipher.update(chunk.subarray(0, chunk.length - GCM_TAG_BYTES));
        tail = Buffer.from(chunk.subarray(chunk.length - GCM_TAG_BYTES));
        callback(null, head.length === 0 ? body : Buffer.concat([head, body]));
        return;
      }
      const joined = Buffer.concat([tail, chunk]);
      const release = Math.max(0, joined.length - GCM_TAG_BYTES);
      tail = joined.subarray(release);
      callback(null, decipher.update(joined.subarray(0, release)));
    },
    flush(callback: TransformCallback) {
      if (tail.length < GCM_TAG_BYTES) {
        callback(decryptionFailed());
        return;
      }
      try {
        (decipher as DecipherGCM).setAuthTag(tail);
        callback(null, decipher.final());
      } catch (cause) {
        callback(decryptionFailed(cause));
      }
    },
  });
}

/**
 * One-shot decryption of a payload held in memory (small payloads, tests, the CLI). Uses the
 * attached ciphertext of the structure when `ciphertext` is omitted. Nothing is returned unless
 * an AEAD tag verified.
 *
 * @throws CoreError as {@link createDecryptStream}, and `MANIFEST_DECRYPTION_FAILED`
 */
export function decryptPayload(
  encryptionInfo: Uint8Array | EncryptionInfo,
  recipientKey: RecipientKey,
  ciphertext?: Uint8Array,
): Uint8Array {
  const { info, decipher } = openEncryptionInfo(encryptionInfo, recipientKey);
  const data = ciphertext ?? info.ciphertext;
  if (data === null) {
    throw new CoreError(
      'MANIFEST_ENCRYPTION_INFO_MALFORMED',
      'the ciphertext is detached: pass the payload bytes',
    );
  }
  if (!CONTENT_ALG_SPECS[info.contentAlg].aead) {
    return Buffer.concat([decipher.update(data), decipher.final()]);
  }
  if (data.length < GCM_TAG_BYTES) throw decryptionFailed();
  const split = data.length - GCM_TAG_BYTES;
  try {
    (decipher as DecipherGCM).setAuthTag(data.subarray(split));
    const out = decipher.update(data.subarray(0, split));
    return Buffer.concat([out, decipher.final()]);
  } catch (cause) {
    throw decryptionFailed(cause);
  }
}
