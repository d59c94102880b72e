import { createHash, createPublicKey, type KeyObject, verify } from 'node:crypto';
import { ServerError } from '../../errors.js';

/** A device's public key as an auth request presents it, read once. */
export interface MenderPublicKey {
  readonly key: KeyObject;
  /** `rsa`, `ec` (P-256 only) or `ed25519`. */
  readonly type: 'rsa' | 'ec' | 'ed25519';
  /** The key as SPKI PEM (one spelling per key, whatever the device sent). */
  readonly pem: string;
  /** SHA-256 hex of the DER SPKI. */
  readonly digest: string;
}

/** Most bytes of a PEM public key accepted (an RSA-8192 SPKI is about 1.4 KiB). */
export const MENDER_PUBKEY_MAX_CHARS = 4096;

/**
 * Reads the `pubkey` of an auth request: a PEM public key of a type mender-client uses — RSA
 * (2048 to 8192 bits), ECDSA on P-256, Ed25519. Anything else is `MENDER_KEY_UNSUPPORTED`.
 */
export function readMenderPublicKey(pem: string): MenderPublicKey {
  if (pem.length > MENDER_PUBKEY_MAX_CHARS || !pem.includes('-----BEGIN'))
    throw new ServerError('MENDER_KEY_UNSUPPORTED', 'pubkey must be a PEM public key');
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (cause) {
    throw new ServerError('MENDER_KEY_UNSUPPORTED', 'pubkey is not a readable PEM public key', {
      cause,
    });
  }
  const details = key.asymmetricKeyDetails ?? {};
  let type: MenderPublicKey['type'];
  if (key.asymmetricKeyType === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits < 2048 || bits > 8192)
      throw new ServerError('MENDER_KEY_UNSUPPORTED', `RSA keys must have 2048 to 8192 bits`);
    type = 'rsa';
  } else if (key.asymmetricKeyType === 'ec' && details.namedCurve === 'prime256v1') {
    type = 'ec';
  } else if (key.asymmetricKeyType === 'ed25519') {
    type = 'ed25519';
  } else {
    throw new ServerError('MENDER_KEY_UNSUPPORTED', 'pubkey must be RSA, ECDSA P-256 or Ed25519', {
      details: { keyType: key.asymmetricKeyType ?? 'unknown' },
    });
  }
  const der = key.export({ format: 'der', type: 'spki' });
  return {
    key,
    type,
    pem: key.export({ format: 'pem', type: 'spki' }).toString(),
    digest: createHash('sha256').update(der).digest('hex'),
  };
}

const BASE64 = /^[A-Za-z0-9+/]{2,2048}={0,2}$/;

/**
 * Checks `X-MEN-Signature` (standard base64) over the raw request body with the request's own
 * key: RSA PKCS#1 v1.5 with SHA-256, ECDSA P-256 with SHA-256 (DER or raw r‖s), Ed25519 (pure).
 * Default-deny: anything missing, malformed or not verifying is `MENDER_SIGNATURE_INVALID`.
 */
export function verifyMenderSignature(
  pub: MenderPublicKey,
  body: Buffer,
  header: string | string[] | undefined,
): void {
  if (typeof header !== 'string' || !BASE64.test(header))
    throw new ServerError('MENDER_SIGNATURE_INVALID', 'X-MEN-Signature is missing or not base64');
  const signature = Buffer.from(header, 'base64');
  let ok = false;
  try {
    if (pub.type === 'ed25519') ok = verify(null, body, pub.key, signature);
    else if (pub.type === 'rsa') ok = verify('sha256', body, pub.key, signature);
    else
      ok = verify(
        'sha256',
        body,
        {
          key: pub.key,
          dsaEncoding: signature.length === 64 ? 'ieee-p1363' : 'der',
        },
        signature,
      );
  } catch {
    ok = false;
  }
  if (!ok)
    throw new ServerError(
      'MENDER_SIGNATURE_INVALID',
      'X-MEN-Signature does not verify over the request body with the given pubkey',
    );
}
