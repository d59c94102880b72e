import { CoreError } from '../errors.js';
import type { RecipientKey } from './content-key.js';
import type { EncryptionInfo } from './encryption-info.js';
import { createPayloadDecipher, toEncryptionInfo } from './payload-decipher.js';

/**
 * One-shot decryption of a payload held in memory (small payloads, tests, the CLI). Uses the
 * attached ciphertext of the structure when `ciphertext` is omitted. Nothing is returned unless
 * an AEAD tag verified.
 *
 * @throws CoreError as {@link createPayloadDecipher}, and `MANIFEST_DECRYPTION_FAILED`
 */
export function decryptPayload(
  encryptionInfo: Uint8Array | EncryptionInfo,
  recipientKey: RecipientKey,
  ciphertext?: Uint8Array,
): Uint8Array {
  const info = toEncryptionInfo(encryptionInfo);
  const data = ciphertext ?? info.ciphertext;
  const decipher = createPayloadDecipher(info, recipientKey);
  if (data === null) {
    throw new CoreError(
      'MANIFEST_ENCRYPTION_INFO_MALFORMED',
      'the ciphertext is detached: pass the payload bytes',
    );
  }
  const head = decipher.update(data);
  return Buffer.concat([head, decipher.final()]);
}
