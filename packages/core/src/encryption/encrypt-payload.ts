import { type CipherGCM, randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
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
  /** Stream buffer size in bytes (default 1 MiB). */
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

const DEFAULT_HIGH_WATER_MARK = 1024 * 1024;

function prepare(options: EncryptOptions) {
  if (!isContentEncryptionAlg(options.contentAlg)) {
    throw new CoreError(
      'MANIFEST_UNSUPPORTED',
      `unsupported content algorithm ${String(options.contentAlg)}`,
    );
  }
  if (options.recipients.length === 0) {
    throw new CoreError('MANIFEST_KEY_INVALID', 'encryption needs at least one recipient');
  }
  const cek = generateContentKey(options.contentAlg);
  const iv = randomBytes(CONTENT_ALG_SPECS[options.contentAlg].ivBytes);
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
  return { info, cipher };
}

/**
 * Encrypts a payload for device classes (pre-shared KEKs) and/or single devices (public keys)
 * with a fresh random CEK and IV. The SUIT_Encryption_Info is ready before any data flows.
 *
 * @throws CoreError `MANIFEST_KEY_INVALID` for a wrong-sized KEK or an unusable public key
 * @example
 *   const { encryptionInfo, stream } = createEncryptStream({
 *     contentAlg: 'A128CTR',
 *     recipients: [{ kek: classKek, kid: 'class-2026' }, { publicKey: devicePub, kid: 'dev-42' }],
 *   });
 *   await pipeline(createReadStream('fw.bin'), stream, createWriteStream('fw.enc'));
 */
export function createEncryptStream(options: EncryptOptions): EncryptStreamResult {
  const { info, cipher } = prepare(options);
  const aead = CONTENT_ALG_SPECS[info.contentAlg].aead;
  const stream = new Transform({
    highWaterMark: options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK,
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      callback(null, cipher.update(chunk));
    },
    flush(callback: TransformCallback) {
      const last = cipher.final();
      callback(null, aead ? Buffer.concat([last, (cipher as CipherGCM).getAuthTag()]) : last);
    },
  });
  return { encryptionInfo: encodeEncryptionInfo(info), info, stream };
}

/** One-shot encryption of an in-memory payload; the ciphertext is detached (AEAD tag appended). */
export function encryptPayload(
  plaintext: Uint8Array,
  options: Omit<EncryptOptions, 'highWaterMark'>,
): { encryptionInfo: Uint8Array; info: EncryptionInfo; ciphertext: Uint8Array } {
  const { info, cipher } = prepare(options);
  const parts: Buffer[] = [cipher.update(plaintext), cipher.final()];
  if (CONTENT_ALG_SPECS[info.contentAlg].aead) {
    parts.push((cipher as CipherGCM).getAuthTag());
  }
  return { encryptionInfo: encodeEncryptionInfo(info), info, ciphertext: Buffer.concat(parts) };
}
