import { createHmac } from 'node:crypto';

/**
 * The `updraft-webhook-signature` header value: `v1=` + hex HMAC-SHA256 keyed with the secret
 * (its UTF-8 bytes, `whsec_…` included) over `<timestamp>.<body>`, where `timestamp` is the
 * `updraft-webhook-timestamp` header (Unix seconds) and `body` the exact bytes sent.
 */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}
