import { createPublicKey, type KeyObject } from 'node:crypto';
import { keyId } from '@updraft/core';
import { SimError } from './errors.js';
import type { ImageSigningKey, TrustedImageKey } from './image-format.js';

/**
 * An image signing key from a node:crypto private key (Ed25519 or P-256). The key id is core's
 * `keyId` (the RFC 9679 thumbprint), the same kid the key has everywhere else in Updraft.
 */
export function imageSigningKey(privateKey: KeyObject): ImageSigningKey {
  checkType(privateKey);
  return { kid: keyId(privateKey), privateKey };
}

/** A bootloader trust anchor from a public (or private) key; same kid as {@link imageSigningKey}. */
export function trustedImageKey(key: KeyObject): TrustedImageKey {
  const publicKey = key.type === 'public' ? key : createPublicKey(key);
  checkType(publicKey);
  return { kid: keyId(publicKey), publicKey };
}

function checkType(key: KeyObject): void {
  const ok =
    key.asymmetricKeyType === 'ed25519' ||
    (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1');
  if (!ok) throw new SimError('SIM_CONFIG_INVALID', 'image keys must be Ed25519 or ECDSA P-256');
}
