import { createCipheriv, createDecipheriv } from 'node:crypto';
import { CoreError } from '../errors.js';

// RFC 3394 section 2.2.3.1 default initial value; OpenSSL's id-aesNNN-wrap checks it on unwrap.
const DEFAULT_IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex');

function wrapCipherName(kek: Uint8Array): 'id-aes128-wrap' | 'id-aes256-wrap' {
  if (kek.length === 16) return 'id-aes128-wrap';
  if (kek.length === 32) return 'id-aes256-wrap';
  throw new CoreError('MANIFEST_KEY_INVALID', 'an AES-KW key-encryption key is 16 or 32 bytes', {
    details: { length: kek.length },
  });
}

/** AES Key Wrap (RFC 3394) of a 16- or 32-byte key with a 16- or 32-byte KEK. */
export function wrapKey(kek: Uint8Array, key: Uint8Array): Uint8Array {
  if (key.length !== 16 && key.length !== 32) {
    throw new CoreError('MANIFEST_KEY_INVALID', 'only 16- and 32-byte keys are wrapped', {
      details: { length: key.length },
    });
  }
  const cipher = createCipheriv(wrapCipherName(kek), kek, DEFAULT_IV);
  return Buffer.concat([cipher.update(key), cipher.final()]);
}

/**
 * AES Key Unwrap (RFC 3394). The integrity check value makes a wrong KEK or a tampered wrapped
 * key fail here, before any payload byte is decrypted.
 *
 * @throws CoreError `MANIFEST_KEY_UNWRAP_FAILED`
 */
export function unwrapKey(kek: Uint8Array, wrapped: Uint8Array): Uint8Array {
  const name = wrapCipherName(kek);
  try {
    const decipher = createDecipheriv(name, kek, DEFAULT_IV);
    return Buffer.concat([decipher.update(wrapped), decipher.final()]);
  } catch (cause) {
    throw new CoreError(
      'MANIFEST_KEY_UNWRAP_FAILED',
      'AES-KW unwrap failed: wrong key-encryption key or tampered wrapped key',
      { cause },
    );
  }
}
