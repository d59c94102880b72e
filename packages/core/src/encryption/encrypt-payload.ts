import type { EncryptionInfo } from './encryption-info.js';
import { createPayloadCipher, type EncryptOptions } from './payload-cipher.js';

/**
 * One-shot encryption of an in-memory payload; the ciphertext is detached (AES-GCM tag appended).
 *
 * @throws CoreError as {@link createPayloadCipher}
 * @example
 *   const { encryptionInfo, ciphertext } = encryptPayload(image, {
 *     contentAlg: 'A128GCM',
 *     recipients: [{ kek: classKek, kid: 'class-2026' }],
 *   });
 */
export function encryptPayload(
  plaintext: Uint8Array,
  options: EncryptOptions,
): { encryptionInfo: Uint8Array; info: EncryptionInfo; ciphertext: Uint8Array } {
  const cipher = createPayloadCipher(options);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { encryptionInfo: cipher.encryptionInfo, info: cipher.info, ciphertext };
}
