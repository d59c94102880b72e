export * from './algorithms.js';
export type { EncryptionRecipient, RecipientKey } from './content-key.js';
export { generateContentKey, unwrapContentKey, wrapContentKey } from './content-key.js';
export * from './decrypt-payload.js';
export * from './decrypt-stream.js';
export * from './encrypt-payload.js';
export * from './encrypt-stream.js';
export type { EncryptionInfo, EncryptionRecipientInfo, EphemeralKey } from './encryption-info.js';
export {
  decodeEncryptionInfo,
  ENCRYPTION_INFO_LIMITS,
  encodeEncryptionInfo,
} from './encryption-info.js';
export type { EncryptOptions, PayloadCipher } from './payload-cipher.js';
export { createPayloadCipher } from './payload-cipher.js';
export type { PayloadDecipher } from './payload-decipher.js';
export { createPayloadDecipher } from './payload-decipher.js';
