import { Transform, type TransformCallback } from 'node:stream';
import type { EncryptionInfo } from './encryption-info.js';
import { createPayloadCipher, type EncryptOptions } from './payload-cipher.js';

/** Options of {@link createEncryptStream}. */
export interface EncryptStreamOptions extends EncryptOptions {
  /** Stream buffer size in bytes (default 256 KiB). */
  readonly highWaterMark?: number;
}

/** The result of {@link createEncryptStream}. */
export interface EncryptStreamResult {
  /** SUIT_Encryption_Info bytes (detached ciphertext): put them in suit-parameter-encryption-info. */
  readonly encryptionInfo: Uint8Array;
  readonly info: EncryptionInfo;
  /** Pipe plaintext in, ciphertext out. For AES-GCM the 16-byte tag is appended at the end. */
  readonly stream: Transform;
}

const DEFAULT_HIGH_WATER_MARK = 256 * 1024;

/**
 * Encrypts a payload for device classes (pre-shared KEKs) and/or single devices (public keys)
 * with a fresh random CEK and IV, as a Transform that never holds more than a chunk. The
 * SUIT_Encryption_Info is ready before any data flows.
 *
 * @throws CoreError as {@link createPayloadCipher}
 * @example
 *   const { encryptionInfo, stream } = createEncryptStream({
 *     contentAlg: 'A128CTR',
 *     recipients: [{ kek: classKek, kid: 'class-2026' }, { publicKey: devicePub, kid: 'dev-42' }],
 *   });
 *   await pipeline(createReadStream('fw.bin'), stream, createWriteStream('fw.enc'));
 */
export function createEncryptStream(options: EncryptStreamOptions): EncryptStreamResult {
  const cipher = createPayloadCipher(options);
  const stream = new Transform({
    highWaterMark: options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK,
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      callback(null, cipher.update(chunk));
    },
    flush(callback: TransformCallback) {
      callback(null, cipher.final());
    },
  });
  return { encryptionInfo: cipher.encryptionInfo, info: cipher.info, stream };
}
