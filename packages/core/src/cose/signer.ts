import { sign as cryptoSign, type KeyObject } from 'node:crypto';
import { CoreError } from '../errors.js';
import { signingAlgOf } from '../keys/key-pair.js';
import { keyId } from '../keys/key-thumbprint.js';
import { COSE_ALG } from './cose-algorithms.js';

/**
 * Something that signs COSE Sig_structures: a local key, an HSM, a KMS, a signing service.
 * `sign` receives the exact bytes to sign (the encoded Sig_structure) and returns the raw COSE
 * signature (r||s, 64 bytes, for P-256; 64 bytes for Ed25519).
 */
export interface Signer {
  /** COSE algorithm identifier (-7 ES256, -9 ESP256, -8 EdDSA, -19 Ed25519). */
  readonly alg: number;
  /** Key id placed in the COSE unprotected header (Updraft: RFC 9679 thumbprint of the public key). */
  readonly kid: Uint8Array;
  sign(bytes: Uint8Array): Promise<Uint8Array>;
}

/**
 * A {@link Signer} backed by a node:crypto private key (P-256 or Ed25519). P-256 keys sign as ES256
 * (-7) unless `alg` says ESP256 (-9); Ed25519 keys as EdDSA (-8) unless `alg` says Ed25519 (-19).
 *
 * @example
 * const signer = createKeySigner(importPem(readFileSync('release.key.pem', 'utf8')));
 */
export function createKeySigner(
  privateKey: KeyObject,
  options: { alg?: number; kid?: Uint8Array } = {},
): Signer {
  if (privateKey.type !== 'private') {
    throw new CoreError('MANIFEST_KEY_INVALID', 'invalid key: signing needs a private key', {
      details: { reason: 'not a private key' },
    });
  }
  const family = signingAlgOf(privateKey);
  if (!family) {
    throw new CoreError(
      'MANIFEST_KEY_INVALID',
      'invalid key: only P-256 and Ed25519 keys can sign',
      {
        details: { reason: 'unsupported key type' },
      },
    );
  }
  const alg = options.alg ?? (family === 'es256' ? COSE_ALG.ES256 : COSE_ALG.EdDSA);
  const allowed: readonly number[] =
    family === 'es256' ? [COSE_ALG.ES256, COSE_ALG.ESP256] : [COSE_ALG.EdDSA, COSE_ALG.Ed25519];
  if (!allowed.includes(alg)) {
    throw new CoreError('MANIFEST_UNSUPPORTED', `algorithm ${alg} does not fit a ${family} key`, {
      details: { alg, family },
    });
  }
  const kid = options.kid ?? keyId(privateKey);
  return {
    alg,
    kid,
    async sign(bytes) {
      const signature =
        family === 'es256'
          ? cryptoSign('sha256', bytes, { key: privateKey, dsaEncoding: 'ieee-p1363' })
          : cryptoSign(null, bytes, privateKey);
      return new Uint8Array(signature);
    },
  };
}

/**
 * A {@link Signer} whose signing happens elsewhere (HSM, KMS, a command): `sign` gets the bytes
 * to sign and must resolve to the raw COSE signature. The CLI wraps an external command with it.
 *
 * @example
 * const signer = createExternalSigner({ alg: COSE_ALG.ES256, kid, sign: (b) => kms.sign(b) });
 */
export function createExternalSigner(options: {
  alg: number;
  kid: Uint8Array;
  sign: (bytes: Uint8Array) => Promise<Uint8Array> | Uint8Array;
}): Signer {
  const { alg, kid } = options;
  return {
    alg,
    kid,
    async sign(bytes) {
      const signature = await options.sign(bytes);
      if (!(signature instanceof Uint8Array) || signature.length === 0) {
        throw new CoreError(
          'MANIFEST_SIGNATURE_INVALID',
          'the external signer returned no signature',
          {
            details: { reason: 'empty external signature' },
          },
        );
      }
      return signature;
    },
  };
}
