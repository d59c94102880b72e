import type { KeyObject } from 'node:crypto';
import {
  coseKeyToKeyObject,
  decodeCoseKey,
  exportPem,
  importPem,
  keyId,
  signingAlgOf,
} from '@updraft/core';
import { ServerError } from '../../errors.js';

/** Formats a trusted key may be given in. */
export const PUBLIC_KEY_FORMATS = ['pem', 'cose_key'] as const;
export type PublicKeyFormat = (typeof PUBLIC_KEY_FORMATS)[number];

/** A parsed public signing key, ready to store. */
export interface ParsedPublicKey {
  readonly format: PublicKeyFormat;
  /** SPKI PEM (also for COSE_Key input). */
  readonly publicKeyPem: string;
  /** RFC 9679 thumbprint (hex): Updraft's kid. */
  readonly kid: string;
  /** `es256` or `ed25519`. */
  readonly algorithm: string;
}

const MAX_KEY_TEXT = 16_384;

function invalid(message: string, cause?: unknown): ServerError {
  return new ServerError('RESOURCE_INVALID', message, { cause });
}

/**
 * Parses a public key given as PEM (SPKI) or COSE_Key (hex of its CBOR). Private keys are
 * refused — the server must never hold a signing key — and so are algorithms Updraft cannot verify.
 */
export function parsePublicKey(format: PublicKeyFormat, text: string): ParsedPublicKey {
  if (text.length > MAX_KEY_TEXT) throw invalid('key text is too long');
  let key: KeyObject;
  if (format === 'pem') {
    if (text.includes('PRIVATE KEY'))
      throw invalid('a private key was given: upload only the public key');
    try {
      key = importPem(text);
    } catch (error) {
      throw invalid('not a readable PEM public key', error);
    }
  } else {
    const hex = text.trim();
    if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex)) throw invalid('COSE_Key must be hex-encoded CBOR');
    let cose: ReturnType<typeof decodeCoseKey>;
    try {
      cose = decodeCoseKey(Buffer.from(hex, 'hex'));
    } catch (error) {
      throw invalid('not a readable COSE_Key', error);
    }
    if (cose.kty === 'Symmetric') throw invalid('a symmetric COSE_Key cannot verify signatures');
    if ('d' in cose && cose.d)
      throw invalid('a private COSE_Key was given: upload only the public key');
    try {
      key = coseKeyToKeyObject(cose, 'public');
    } catch (error) {
      throw invalid('COSE_Key does not describe a usable public key', error);
    }
  }
  if (key.type !== 'public') throw invalid('not a public key');
  const algorithm = signingAlgOf(key);
  if (!algorithm) throw invalid('unsupported key type: use P-256 (ES256) or Ed25519');
  return {
    format,
    publicKeyPem: exportPem(key),
    kid: Buffer.from(keyId(key)).toString('hex'),
    algorithm,
  };
}
