import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import {
  type CoseKey,
  coseKeyToKeyObject,
  decodeCoseKey,
  type EncryptionRecipient,
  importPem,
  isUpdraftError,
  keyId,
  signingAlgOf,
} from '@updraft/core';
import { CliError } from './errors.js';
import { readInput } from './read-input.js';
import { toHex } from './to-json.js';

/** Largest key file read (PEM keys and KEK files are a few hundred bytes). */
const MAX_KEY_FILE_BYTES = 64 * 1024;

/** A key read from a file: an asymmetric PEM key, or a symmetric key-encryption key (KEK). */
export type KeyFile =
  | { readonly kind: 'asymmetric'; readonly key: KeyObject; readonly path: string }
  | {
      readonly kind: 'kek';
      readonly key: KeyObject;
      readonly bytes: Uint8Array;
      readonly path: string;
    };

/**
 * Reads a key file: PEM (PKCS#8/SEC1 private or SPKI public) or a KEK file (16 or 32 bytes as
 * hex text, as `updraft keys generate --alg a128kw|a256kw` writes). Anything else, or a corrupted
 * key, is `CLI_KEY_INVALID` naming the file.
 */
export async function readKeyFile(path: string, what = 'key file'): Promise<KeyFile> {
  const bytes = await readInput(path, what, MAX_KEY_FILE_BYTES);
  const text = bytes.toString('utf8');
  if (text.includes('-----BEGIN')) {
    try {
      return { kind: 'asymmetric', key: importPem(text), path };
    } catch (error) {
      throw invalidKey(path, isUpdraftError(error) ? error.message : 'unreadable PEM', error);
    }
  }
  const hex = text.trim();
  if (/^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{64})$/.test(hex)) {
    const raw = new Uint8Array(Buffer.from(hex, 'hex'));
    return { kind: 'kek', key: createSecretKey(raw), bytes: raw, path };
  }
  throw invalidKey(path, 'neither a PEM key nor a 16/32-byte hex KEK');
}

/** Reads a PEM private key (for signing or ECDH decryption). */
export async function readPrivateKey(path: string, what = 'private key'): Promise<KeyObject> {
  const file = await readKeyFile(path, what);
  if (file.kind !== 'asymmetric' || file.key.type !== 'private') {
    throw invalidKey(path, 'expected a PEM private key');
  }
  return file.key;
}

/** Reads a PEM public key; a private key file is accepted and reduced to its public half. */
export async function readPublicKey(path: string, what = 'public key'): Promise<KeyObject> {
  const file = await readKeyFile(path, what);
  if (file.kind !== 'asymmetric') throw invalidKey(path, 'expected a PEM public key');
  return file.key.type === 'public' ? file.key : createPublicKey(file.key);
}

/** A release-signing public key read from a file, as the service is given it. */
export interface TrustedKeyFile {
  readonly key: KeyObject;
  /** RFC 9679 thumbprint (hex): the kid the service computes for the same key. */
  readonly kid: string;
  /** How the key is sent to the service (`POST /device-classes/{id}/keys`). */
  readonly format: 'pem' | 'cose_key';
  /** SPKI PEM, or the COSE_Key as hex. */
  readonly text: string;
}

/**
 * Reads a release-signing public key for `class add-key` and `class revoke-key`: a PEM (SPKI)
 * public key, or a COSE_Key (CBOR bytes or their hex, as `keys show` prints it). A private key
 * is refused with `CLI_KEY_PRIVATE` (it belongs on the build machine, never beside the service);
 * anything that is not an ES256 or Ed25519 public key is `CLI_KEY_INVALID`.
 */
export async function readTrustedKeyFile(path: string): Promise<TrustedKeyFile> {
  const bytes = await readInput(path, 'public key', MAX_KEY_FILE_BYTES);
  const text = bytes.toString('utf8');
  if (text.includes('-----BEGIN')) {
    if (/PRIVATE KEY-----/.test(text)) throw privateKey(path);
    let key: KeyObject;
    try {
      key = importPem(text);
    } catch (error) {
      throw invalidKey(path, isUpdraftError(error) ? error.message : 'unreadable PEM', error);
    }
    return trustedKey(path, key, 'pem', key.export({ type: 'spki', format: 'pem' }).toString());
  }
  const hex = text.trim();
  const cbor = new Uint8Array(/^(?:[0-9a-fA-F]{2})+$/.test(hex) ? Buffer.from(hex, 'hex') : bytes);
  let cose: CoseKey;
  try {
    cose = decodeCoseKey(cbor);
  } catch (error) {
    throw invalidKey(path, 'neither a PEM public key nor a COSE_Key', error);
  }
  if (cose.kty === 'Symmetric') throw invalidKey(path, 'a symmetric key cannot verify signatures');
  if (cose.d !== undefined) throw privateKey(path);
  let key: KeyObject;
  try {
    key = coseKeyToKeyObject(cose, 'public');
  } catch (error) {
    throw invalidKey(path, isUpdraftError(error) ? error.message : 'unusable COSE_Key', error);
  }
  return trustedKey(path, key, 'cose_key', toHex(cbor));
}

function trustedKey(
  path: string,
  key: KeyObject,
  format: TrustedKeyFile['format'],
  text: string,
): TrustedKeyFile {
  if (key.type !== 'public') throw privateKey(path);
  if (signingAlgOf(key) === undefined) {
    throw invalidKey(path, 'not a release-signing key (ES256 on P-256, or Ed25519)');
  }
  return { key, kid: toHex(keyId(key)), format, text };
}

function privateKey(path: string): CliError {
  return new CliError(
    'CLI_KEY_PRIVATE',
    `${path} is a private key: give its public key file (e.g. the .pub that \`updraft keys generate\` wrote); the private key stays on the build machine`,
    { details: { path } },
  );
}

function invalidKey(path: string, reason: string, cause?: unknown): CliError {
  return new CliError('CLI_KEY_INVALID', `invalid key ${path}: ${reason}`, {
    details: { path, reason },
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * An encryption recipient from a key file: a KEK file becomes an AES-KW recipient, a P-256 or
 * X25519 key (public, or private reduced to public) an ECDH-ES recipient. The recipient's kid is
 * the key's RFC 9679 thumbprint.
 */
export function recipientFromKeyFile(file: KeyFile, alg?: string): EncryptionRecipient {
  const kid = keyId(file.key);
  if (file.kind === 'kek') {
    if (alg !== undefined && alg !== 'A128KW' && alg !== 'A256KW') {
      throw invalidKey(file.path, `a KEK is used with A128KW or A256KW, not ${alg}`);
    }
    return { kek: file.bytes, kid, ...(alg === undefined ? {} : { alg }) };
  }
  if (alg !== undefined && alg !== 'ECDH-ES+A128KW' && alg !== 'ECDH-ES+A256KW') {
    throw invalidKey(
      file.path,
      `a public key is used with ECDH-ES+A128KW or ECDH-ES+A256KW, not ${alg}`,
    );
  }
  const type = file.key.asymmetricKeyType;
  const isP256 = type === 'ec' && file.key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
  if (!isP256 && type !== 'x25519') {
    throw invalidKey(file.path, 'an encryption recipient needs a P-256 or X25519 key, or a KEK');
  }
  const publicKey = file.key.type === 'public' ? file.key : createPublicKey(file.key);
  return { publicKey, kid, ...(alg === undefined ? {} : { alg }) };
}
