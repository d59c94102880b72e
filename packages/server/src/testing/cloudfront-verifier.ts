import { createPublicKey, createVerify, type KeyObject } from 'node:crypto';

/** Why a CloudFront-style signed URL was refused (`null`: accepted). */
export type CloudFrontRefusal = 'malformed' | 'key-pair' | 'signature' | 'expired' | null;

// CloudFront's URL-safe base64: + → -, = → _, / → ~.
const fromCloudFrontBase64 = (s: string) =>
  Buffer.from(s.replace(/-/g, '+').replace(/_/g, '=').replace(/~/g, '/'), 'base64');

/**
 * Checks a CloudFront canned-policy signed URL the way the edge does: rebuild the canned policy
 * from the URL without its signing parameters and `Expires`, verify the RSA-SHA1 signature with
 * the PUBLIC key of `keyPairId`, then the expiry. A test edge's check (see `cdn-edge.ts`).
 */
export function verifyCloudFrontUrl(
  url: string,
  publicKey: KeyObject | string,
  keyPairId: string,
  nowMs: number,
): CloudFrontRefusal {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'malformed';
  }
  const q = parsed.searchParams;
  const expires = q.get('Expires');
  const signature = q.get('Signature');
  const pairId = q.get('Key-Pair-Id');
  if (expires === null || signature === null || pairId === null || !/^\d{1,12}$/.test(expires))
    return 'malformed';
  if (pairId !== keyPairId) return 'key-pair';
  const resource = new URL(parsed.href);
  for (const name of ['Expires', 'Signature', 'Key-Pair-Id', 'Policy', 'Hash-Algorithm'])
    resource.searchParams.delete(name);
  const resourceText = resource.href.replace(/\?$/, '');
  const policy = JSON.stringify({
    Statement: [
      {
        Resource: resourceText,
        Condition: { DateLessThan: { 'AWS:EpochTime': Number(expires) } },
      },
    ],
  });
  const key = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
  const ok = createVerify('RSA-SHA1').update(policy).verify(key, fromCloudFrontBase64(signature));
  if (!ok) return 'signature';
  if (Number(expires) * 1000 <= nowMs) return 'expired';
  return null;
}
