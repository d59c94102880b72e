import {
  type Cipher,
  type CipherGCM,
  type CipherGCMTypes,
  createCipheriv,
  createDecipheriv,
  type Decipher,
  type DecipherGCM,
} from 'node:crypto';
import { encodeCbor } from '../cbor/cbor-encode.js';
import { CONTENT_ALG_SPECS, type ContentEncryptionAlg } from './algorithms.js';

/**
 * The AEAD additional data: Enc_structure ["Encrypt", protected, external_aad = h''] (RFC 9052
 * section 5.3); the draft fixes external_aad to a zero-length byte string.
 */
export function encStructure(protectedHeader: Uint8Array): Uint8Array {
  return encodeCbor(['Encrypt', protectedHeader, new Uint8Array(0)]);
}

interface CipherParams {
  readonly alg: ContentEncryptionAlg;
  readonly cek: Uint8Array;
  readonly iv: Uint8Array;
  readonly protectedHeader: Uint8Array;
}

/** A node cipher for the content algorithm; AES-GCM (a CipherGCM) gets the Enc_structure as AAD. */
export function createContentCipher(params: CipherParams): Cipher | CipherGCM {
  const spec = CONTENT_ALG_SPECS[params.alg];
  if (!spec.aead) return createCipheriv(spec.nodeCipher, params.cek, params.iv);
  const cipher = createCipheriv(spec.nodeCipher as CipherGCMTypes, params.cek, params.iv);
  cipher.setAAD(encStructure(params.protectedHeader));
  return cipher;
}

/** The matching decipher. For AES-GCM (a DecipherGCM) the caller sets the tag before `final()`. */
export function createContentDecipher(params: CipherParams): Decipher | DecipherGCM {
  const spec = CONTENT_ALG_SPECS[params.alg];
  if (!spec.aead) return createDecipheriv(spec.nodeCipher, params.cek, params.iv);
  const decipher = createDecipheriv(spec.nodeCipher as CipherGCMTypes, params.cek, params.iv);
  decipher.setAAD(encStructure(params.protectedHeader));
  return decipher;
}
