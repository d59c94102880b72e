import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { downloadWindow } from '../../signed-url/download-window.js';
import { verifyCloudFrontUrl } from '../../testing/cloudfront-verifier.js';
import { CloudFrontSignedLinks } from './cloudfront-signed-links.js';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
const DIGEST = 'ab'.repeat(32);
const T0 = Date.parse('2026-12-03T18:00:00Z');

const links = (key = privateKey) =>
  new CloudFrontSignedLinks({
    baseUrl: 'https://d111111abcdef8.cloudfront.net/fw/',
    keyPairId: 'K2JCJMDEHXQW5F',
    privateKeyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    keyOf: (d) => `updraft/blobs/${d}`,
  });

describe('CloudFrontSignedLinks', () => {
  it('signs a canned policy on the CDN host that the public key verifies, until the window expiry', async () => {
    const window = downloadWindow(600, T0);
    const url = await links().url(DIGEST, window);
    const parsed = new URL(url);
    expect(parsed.origin).toBe('https://d111111abcdef8.cloudfront.net');
    expect(parsed.pathname).toBe(`/fw/updraft/blobs/${DIGEST}`);
    expect(parsed.searchParams.get('Expires')).toBe(String(window.expiresAt));
    expect(parsed.searchParams.get('Key-Pair-Id')).toBe('K2JCJMDEHXQW5F');
    expect(verifyCloudFrontUrl(url, publicKey, 'K2JCJMDEHXQW5F', T0)).toBeNull();
    // Still good one second before the expiry, refused at it.
    expect(
      verifyCloudFrontUrl(url, publicKey, 'K2JCJMDEHXQW5F', window.expiresAt * 1000 - 1000),
    ).toBeNull();
    expect(verifyCloudFrontUrl(url, publicKey, 'K2JCJMDEHXQW5F', window.expiresAt * 1000)).toBe(
      'expired',
    );
  });

  it('gives one URL per blob and window (stable check-in ETags), another in the next window', async () => {
    const a = await links().url(DIGEST, downloadWindow(600, T0 + 1_000));
    const b = await links().url(DIGEST, downloadWindow(600, T0 + 599_000));
    const c = await links().url(DIGEST, downloadWindow(600, T0 + 600_000));
    expect(a).toBe(b);
    expect(c).not.toBe(a);
  });

  it('is refused when tampered with: another blob, a later expiry, another key', async () => {
    const url = await links().url(DIGEST, downloadWindow(600, T0));
    const otherBlob = url.replace(DIGEST, 'cd'.repeat(32));
    expect(verifyCloudFrontUrl(otherBlob, publicKey, 'K2JCJMDEHXQW5F', T0)).toBe('signature');
    const later = new URL(url);
    later.searchParams.set('Expires', String(Number(later.searchParams.get('Expires')) + 3600));
    expect(verifyCloudFrontUrl(later.href, publicKey, 'K2JCJMDEHXQW5F', T0)).toBe('signature');
    const forged = await links(other.privateKey).url(DIGEST, downloadWindow(600, T0));
    expect(verifyCloudFrontUrl(forged, publicKey, 'K2JCJMDEHXQW5F', T0)).toBe('signature');
    expect(verifyCloudFrontUrl(url, publicKey, 'KOTHER', T0)).toBe('key-pair');
    expect(
      verifyCloudFrontUrl(url.replace(/Signature=[^&]+/, ''), publicKey, 'K2JCJMDEHXQW5F', T0),
    ).toBe('malformed');
  });
});
