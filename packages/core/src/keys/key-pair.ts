import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { CoreError } from '../errors.js';
import { keyId } from './key-thumbprint.js';

/** Signature algorithms Updraft generates keys for. */
export const SIGNING_KEY_ALGS = ['es256', 'ed25519'] as const;
export type SigningKeyAlg = (typeof SIGNING_KEY_ALGS)[number];

/** Runtime guard for {@link SigningKeyAlg}. */
export function isSigningKeyAlg(value: unknown): value is SigningKeyAlg {
  return (SIGNING_KEY_ALGS as readonly unknown[]).includes(value);
}

/** A generated signing key pair and its kid (RFC 9679 thumbprint of the public key). */
export interface SigningKeyPair {
  readonly alg: SigningKeyAlg;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly kid: Uint8Array;
}

/**
 * Generates a P-256 (ES256/ESP256) or Ed25519 (EdDSA) key pair.
 *
 * @example
 * const { privateKey, publicKey, kid } = generateSigningKeyPair('ed25519');
 */
export function generateSigningKeyPair(alg: SigningKeyAlg): SigningKeyPair {
  const { privateKey, publicKey } =
    alg === 'es256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('ed25519');
  return { alg, privateKey, publicKey, kid: keyId(publicKey) };
}

/** The signing algorithm family of a key, or undefined when Updraft cannot sign/verify with it. */
export function signingAlgOf(key: KeyObject): SigningKeyAlg | undefined {
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1')
    return 'es256';
  return undefined;
}

/**
 * Reads a PEM key: a PKCS#8/SEC1 private key or an SPKI public key. Throws
 * `CoreError('MANIFEST_KEY_INVALID')` when the text is not a key.
 */
export function importPem(pem: string | Uint8Array): KeyObject {
  const text = typeof pem === 'string' ? pem : Buffer.from(pem).toString('utf8');
  if (!text.includes('-----BEGIN')) {
    throw new CoreError('MANIFEST_KEY_INVALID', 'invalid key: not a PEM file', {
      details: { reason: 'not PEM' },
    });
  }
  try {
    return text.includes('PRIVATE KEY') ? createPrivateKey(text) : createPublicKey(text);
  } catch (cause) {
    throw new CoreError(
      'MANIFEST_KEY_INVALID',
      'invalid key: the PEM does not hold a readable key',
      {
        cause,
        details: { reason: 'unreadable PEM' },
      },
    );
  }
}

/** PEM export: PKCS#8 for private keys, SPKI for public keys. Private keys stay unencrypted: protect the file. */
export function exportPem(key: KeyObject): string {
  if (key.type === 'private') return key.export({ type: 'pkcs8', format: 'pem' }).toString();
  if (key.type === 'public') return key.export({ type: 'spki', format: 'pem' }).toString();
  throw new CoreError('MANIFEST_KEY_INVALID', 'invalid key: secret keys have no PEM form', {
    details: { reason: 'secret key' },
  });
}

/** The public key of a private key (or the key itself when it is already public). */
export function publicKeyOf(key: KeyObject): KeyObject {
  return key.type === 'private' ? createPublicKey(key) : key;
}
