import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { BugError } from '@updraft/core';

const VERSION = 'v1';

/**
 * Seals webhook signing secrets for storage: AES-256-GCM under a key derived from the master key
 * (`deriveKey('webhook-secret')`), bound to the webhook's tenant and id (additional data), so a
 * sealed secret copied to another row does not open. The server needs the secret itself to sign,
 * so a hash would not do; a database dump without the master key reveals no secret.
 */
export class WebhookSecretBox {
  readonly #key: Buffer;

  /** `key`: 32 bytes of secret. */
  constructor(key: Uint8Array) {
    if (key.length !== 32) throw new RangeError('webhook secret key must be 32 bytes');
    this.#key = Buffer.from(key);
  }

  /** A fresh secret as shown to the tenant once: `whsec_` + 32 random bytes, base64url. */
  static generate(): string {
    return `whsec_${randomBytes(32).toString('base64url')}`;
  }

  /** `v1.<iv>.<tag>.<ciphertext>` (base64url parts). */
  seal(secret: string, tenantId: string, webhookId: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(`${tenantId}\n${webhookId}`, 'utf8'));
    const ct = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return [VERSION, iv, cipher.getAuthTag(), ct].map(part64).join('.');
  }

  /** The secret sealed by {@link seal} for this tenant and webhook. */
  open(sealed: string, tenantId: string, webhookId: string): string {
    const [version, iv, tag, ct] = sealed.split('.');
    if (version !== VERSION || iv === undefined || tag === undefined || ct === undefined)
      throw new BugError(`webhook ${webhookId}: unknown secret format`);
    const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(`${tenantId}\n${webhookId}`, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([
      decipher.update(Buffer.from(ct, 'base64url')),
      decipher.final(),
    ]).toString('utf8');
  }
}

function part64(part: string | Buffer): string {
  return typeof part === 'string' ? part : part.toString('base64url');
}
