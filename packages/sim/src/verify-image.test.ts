import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildImage, parseImageVersion } from './build-image.js';
import { SimError } from './errors.js';
import { APP_BEHAVIOURS, type ImageSigningKey, type TrustedImageKey } from './image-format.js';
import { imageSigningKey, trustedImageKey } from './image-keys.js';
import { generateTestKey } from './power-cut-sweep.js';
import { verifyImage } from './verify-image.js';

const ed = generateTestKey();
const ecPair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ec: { signing: ImageSigningKey; trusted: TrustedImageKey } = {
  signing: imageSigningKey(ecPair.privateKey),
  trusted: trustedImageKey(ecPair.publicKey),
};

const verify = (image: Uint8Array, keys: TrustedImageKey[], min = 0) =>
  verifyImage({
    read: (o, l) => image.slice(o, o + l),
    limit: image.length,
    trustedKeys: keys,
    minSecurityCounter: min,
  });

describe('image format', () => {
  it.each([
    ['Ed25519', ed],
    ['ECDSA P-256', ec],
  ])('round-trips an image signed with %s', (_name, key) => {
    const image = buildImage({
      version: '1.2.3+7',
      sequenceNumber: 9,
      behaviour: 'hangs',
      size: 1000,
      key: key.signing,
    });
    const v = verify(image, [ed.trusted, ec.trusted]);
    expect(v.ok).toBe(true);
    if (!v.ok) return;
    expect(v.info).toMatchObject({
      versionString: '1.2.3+7',
      securityCounter: 9,
      behaviour: 'hangs',
      totalSize: image.length,
    });
  });

  it('scripts every behaviour in the body', () => {
    for (const behaviour of APP_BEHAVIOURS) {
      const image = buildImage({
        version: '1.0.0',
        sequenceNumber: 1,
        behaviour,
        size: 64,
        key: ed.signing,
      });
      const v = verify(image, [ed.trusted]);
      expect(v.ok && v.info.behaviour).toBe(behaviour);
    }
  });

  const good = buildImage({
    version: '2.0.0',
    sequenceNumber: 5,
    behaviour: 'healthy',
    size: 512,
    key: ed.signing,
  });

  it('refuses a tampered body with SIM_IMAGE_DIGEST_MISMATCH', () => {
    const bad = good.slice();
    bad[100] = (bad[100] ?? 0) ^ 1;
    expect(verify(bad, [ed.trusted])).toMatchObject({
      ok: false,
      code: 'SIM_IMAGE_DIGEST_MISMATCH',
    });
  });

  it('refuses an unknown key with SIM_IMAGE_UNTRUSTED_KEY', () => {
    expect(verify(good, [ec.trusted])).toMatchObject({
      ok: false,
      code: 'SIM_IMAGE_UNTRUSTED_KEY',
    });
  });

  it('refuses a key-id impostor with SIM_IMAGE_SIGNATURE_INVALID', () => {
    const other = generateKeyPairSync('ed25519');
    const impostor = buildImage({
      version: '2.0.0',
      sequenceNumber: 5,
      behaviour: 'healthy',
      size: 512,
      key: { kid: ed.signing.kid, privateKey: other.privateKey },
    });
    expect(verify(impostor, [ed.trusted])).toMatchObject({
      ok: false,
      code: 'SIM_IMAGE_SIGNATURE_INVALID',
    });
  });

  it('refuses a security counter below the stored one with SIM_IMAGE_ROLLBACK', () => {
    expect(verify(good, [ed.trusted], 6)).toMatchObject({ ok: false, code: 'SIM_IMAGE_ROLLBACK' });
    expect(verify(good, [ed.trusted], 5).ok).toBe(true);
  });

  it('refuses an image larger than its slot with SIM_IMAGE_MALFORMED', () => {
    const v = verifyImage({
      read: (o, l) => good.slice(o, o + l),
      limit: good.length - 1,
      trustedKeys: [ed.trusted],
    });
    expect(v).toMatchObject({ ok: false, code: 'SIM_IMAGE_MALFORMED' });
  });

  it('refuses image keys of other types with SIM_CONFIG_INVALID', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(() => imageSigningKey(rsa.privateKey)).toThrow(SimError);
    expect(() => trustedImageKey(rsa.publicKey)).toThrow(SimError);
  });

  it('rejects bad build inputs with SIM_CONFIG_INVALID', () => {
    expect(() => parseImageVersion('1.2')).toThrow(SimError);
    expect(() =>
      buildImage({
        version: '1.0.0',
        sequenceNumber: -1,
        behaviour: 'healthy',
        size: 64,
        key: ed.signing,
      }),
    ).toThrow(SimError);
    expect(() =>
      buildImage({
        version: '1.0.0',
        sequenceNumber: 1,
        behaviour: 'healthy',
        size: 4,
        key: ed.signing,
      }),
    ).toThrow(SimError);
  });

  it('fuzz: any single-byte change anywhere in a signed image is refused, never thrown', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: good.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (at, xor) => {
          const bad = good.slice();
          bad[at] = (bad[at] ?? 0) ^ xor;
          expect(verify(bad, [ed.trusted]).ok).toBe(false);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('fuzz: random bytes in a slot are refused without throwing', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 600 }),
        fc.integer({ min: 0, max: 700 }),
        (raw, limit) => {
          const slot = new Uint8Array(700).fill(0xff);
          slot.set(raw);
          // Half the cases start with a valid header so the parser gets past the magic.
          if (raw.length > 40 && (raw[0] ?? 0) % 2 === 0) slot.set(good.subarray(0, 32));
          const v = verifyImage({
            read: (o, l) => slot.slice(o, o + l),
            limit,
            trustedKeys: [ed.trusted],
          });
          expect(v.ok).toBe(false);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
