import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SignedUrl } from './signed-url.js';

const digest = 'ab'.repeat(32);
const other = 'cd'.repeat(32);
const now = Date.UTC(2026, 0, 1);

function query(s: string): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(s));
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code;
  }
}

describe('SignedUrl', () => {
  const urls = new SignedUrl(randomBytes(32), 600);
  const claims = { tenantId: 'ten_1', deviceId: 'dev_1', digest, exp: urls.expiryFor(now) };

  it('accepts its own URL until it expires', () => {
    const q = query(urls.sign(claims));
    expect(urls.verify(digest, q, now)).toEqual(claims);
    expect(codeOf(() => urls.verify(digest, q, claims.exp * 1000))).toBe('DEVICE_URL_EXPIRED');
  });

  it('issues the same URL for every check-in in one window, valid one to two windows', () => {
    expect(urls.expiryFor(now + 1000)).toBe(urls.expiryFor(now));
    expect(urls.expiryFor(now) * 1000 - now).toBeGreaterThanOrEqual(600_000);
    expect(urls.expiryFor(now) * 1000 - now).toBeLessThanOrEqual(1_200_000);
  });

  it('refuses another device, tenant, artifact or expiry than signed', () => {
    const q = query(urls.sign(claims));
    expect(codeOf(() => urls.verify(digest, { ...q, d: 'dev_2' }, now))).toBe('DEVICE_URL_INVALID');
    expect(codeOf(() => urls.verify(digest, { ...q, t: 'ten_2' }, now))).toBe('DEVICE_URL_INVALID');
    expect(codeOf(() => urls.verify(other, q, now))).toBe('DEVICE_URL_INVALID');
    expect(codeOf(() => urls.verify(digest, { ...q, exp: String(claims.exp + 1) }, now))).toBe(
      'DEVICE_URL_INVALID',
    );
  });

  it('signs the action and the credential too: changing or dropping either is invalid', () => {
    const bound = { ...claims, actionId: 'act_1', credentialId: 'dtk_1' };
    const q = query(urls.sign(bound));
    expect(urls.verify(digest, q, now)).toEqual(bound);
    for (const changed of [
      { ...q, a: 'act_2' },
      { ...q, k: 'dtk_2' },
      { ...q, a: undefined },
      { ...q, k: undefined },
    ])
      expect(codeOf(() => urls.verify(digest, changed, now))).toBe('DEVICE_URL_INVALID');
  });

  it('refuses a URL signed with another key', () => {
    const q = query(new SignedUrl(randomBytes(32), 600).sign(claims));
    expect(codeOf(() => urls.verify(digest, q, now))).toBe('DEVICE_URL_INVALID');
  });

  it('refuses malformed parameters', () => {
    const q = query(urls.sign(claims));
    expect(codeOf(() => urls.verify(digest, { ...q, sig: undefined }, now))).toBe(
      'DEVICE_URL_INVALID',
    );
    expect(codeOf(() => urls.verify(digest, { ...q, exp: '-1' }, now))).toBe('DEVICE_URL_INVALID');
    expect(codeOf(() => urls.verify('../etc/passwd', q, now))).toBe('DEVICE_URL_INVALID');
    expect(() => new SignedUrl(randomBytes(16))).toThrow(RangeError);
  });

  it('refuses any single-character change of the signature', () => {
    const q = query(urls.sign(claims));
    fc.assert(
      fc.property(fc.nat({ max: 42 }), fc.constantFrom(...'ABCxyz019-_'), (i, ch) => {
        const sig = q.sig!;
        fc.pre(sig[i] !== ch);
        const bad = sig.slice(0, i) + ch + sig.slice(i + 1);
        expect(codeOf(() => urls.verify(digest, { ...q, sig: bad }, now))).toBe(
          'DEVICE_URL_INVALID',
        );
      }),
      { numRuns: 300 },
    );
  });
});
