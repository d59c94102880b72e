import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { COSE_ALG } from '../cose/cose-algorithms.js';
import { coseToBeSigned, verifyCoseSignature } from '../cose/cose-sign1.js';
import { createExternalSigner, createKeySigner } from '../cose/signer.js';
import { CoreError } from '../errors.js';
import { suitVectors } from '../suit/suit-vectors.js';
import {
  coseKeyToKeyObject,
  decodeCoseKey,
  encodeCoseKey,
  keyObjectToCoseKey,
  publicCoseKey,
} from './cose-key.js';
import {
  exportPem,
  generateSigningKeyPair,
  importPem,
  publicKeyOf,
  SIGNING_KEY_ALGS,
} from './key-pair.js';
import { coseKeyThumbprint, keyId } from './key-thumbprint.js';

const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const published = suitVectors.index.keys;

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof CoreError) return error.code;
    throw error;
  }
  return 'OK';
}

describe('keys', () => {
  it('computes the RFC 9679 example thumbprint (the kid)', () => {
    const key = {
      kty: 'EC2',
      crv: 'P-256',
      x: hex('65eda5a12577c2bae829437fe338701a10aaa375e1bb5b5de108de439c08551d'),
      y: hex('1e52ed75701163f7f9e40ddf9f341b3dc9ba860af7e0ca7ca7e9eecd0084d19c'),
    } as const;
    expect(Buffer.from(coseKeyThumbprint(key)).toString('hex')).toBe(
      '496bd8afadf307e5b08c64b0421bf9dc01528a344a43bda88fadd1669da253ec',
    );
  });

  for (const alg of SIGNING_KEY_ALGS) {
    it(`generates ${alg} keys that survive PEM and COSE_Key round trips with the same kid`, () => {
      const pair = generateSigningKeyPair(alg);
      const fromPem = importPem(exportPem(pair.privateKey));
      expect(keyId(fromPem)).toEqual(pair.kid);
      const cose = keyObjectToCoseKey(pair.privateKey);
      const back = coseKeyToKeyObject(decodeCoseKey(encodeCoseKey(cose)));
      expect(back.type).toBe('private');
      expect(exportPem(publicKeyOf(back))).toBe(exportPem(pair.publicKey));
      expect(coseKeyThumbprint(publicCoseKey(cose))).toEqual(pair.kid);
      expect(encodeCoseKey(cose, { includePrivate: false })).toEqual(
        encodeCoseKey(publicCoseKey(cose)),
      );
    });
  }

  it('turns the published test COSE_Keys into KeyObjects (EC2 public and private, Symmetric)', () => {
    const pub = coseKeyToKeyObject(decodeCoseKey(hex(published['example-p256']!.coseKey)));
    expect(pub.type).toBe('public');
    expect(pub.export({ format: 'pem', type: 'spki' })).toBe(
      createPublicKey(Buffer.from(suitVectors.read(published['example-p256']!.pem!))).export({
        format: 'pem',
        type: 'spki',
      }),
    );
    const receiver = decodeCoseKey(hex(published['enc-esdh-receiver-p256']!.coseKey));
    expect(Buffer.from(receiver.kid!).toString()).toBe('kid-2');
    expect(coseKeyToKeyObject(receiver).type).toBe('private');
    expect(coseKeyToKeyObject(receiver, 'public').type).toBe('public');
    const kek = decodeCoseKey(hex(published['enc-a128kw-kek']!.coseKey));
    const secret = coseKeyToKeyObject(kek);
    expect(secret.type).toBe('secret');
    expect(secret.symmetricKeySize).toBe(16);
  });

  it('handles X25519 keys for the encryption module', () => {
    const { privateKey } = generateKeyPairSync('x25519');
    const cose = keyObjectToCoseKey(privateKey);
    expect(cose).toMatchObject({ kty: 'OKP', crv: 'X25519' });
    expect(coseKeyToKeyObject(decodeCoseKey(encodeCoseKey(cose))).asymmetricKeyType).toBe('x25519');
  });

  const bad: [string, string][] = [
    ['a point not on the curve', `a401022001215820${'00'.repeat(32)}225820${'00'.repeat(32)}`],
    ['a short coordinate', 'a40102200121410022410'],
    ['an unsupported curve (P-384)', `a401022002215820${'00'.repeat(32)}225820${'00'.repeat(32)}`],
    ['a compressed point', `a401022001215820${'11'.repeat(32)}22f5`],
    ['an unknown key type', 'a10103'],
    ['a non-map', '80'],
    ['an empty symmetric key', 'a201042040'],
  ];
  for (const [what, h] of bad) {
    it(`rejects ${what} with a typed error`, () => {
      const bytes = h.length % 2 ? hex(h.slice(0, -1)) : hex(h);
      expect(['MANIFEST_KEY_INVALID', 'MANIFEST_MALFORMED']).toContain(
        codeOf(() => coseKeyToKeyObject(decodeCoseKey(bytes))),
      );
    });
  }

  it('rejects text that is not a PEM key', () => {
    expect(codeOf(() => importPem('hello'))).toBe('MANIFEST_KEY_INVALID');
    expect(
      codeOf(() => importPem('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n')),
    ).toBe('MANIFEST_KEY_INVALID');
  });
});

describe('signers', () => {
  for (const [alg, family] of [
    [COSE_ALG.ES256, 'es256'],
    [COSE_ALG.ESP256, 'es256'],
    [COSE_ALG.EdDSA, 'ed25519'],
  ] as const) {
    it(`signs with ${alg} so that node:crypto and the COSE verifier agree`, async () => {
      const pair = generateSigningKeyPair(family);
      const signer = createKeySigner(pair.privateKey, { alg });
      const data = coseToBeSigned(
        'Signature1',
        new Uint8Array([0xa1, 0x01, 0x26]),
        new Uint8Array([1, 2, 3]),
      );
      const signature = await signer.sign(data);
      expect(signature).toHaveLength(64);
      expect(verifyCoseSignature(alg, pair.publicKey, data, signature)).toBe(true);
      expect(
        verify(
          family === 'es256' ? 'sha256' : null,
          data,
          { key: pair.publicKey, dsaEncoding: 'ieee-p1363' },
          signature,
        ),
      ).toBe(true);
      expect(
        verifyCoseSignature(alg, generateSigningKeyPair(family).publicKey, data, signature),
      ).toBe(false);
    });
  }

  it('wraps an external signer (HSM, KMS, command)', async () => {
    const pair = generateSigningKeyPair('ed25519');
    const local = createKeySigner(pair.privateKey);
    const external = createExternalSigner({
      alg: COSE_ALG.EdDSA,
      kid: pair.kid,
      sign: (bytes) => local.sign(bytes),
    });
    const signature = await external.sign(new Uint8Array([9]));
    expect(
      verifyCoseSignature(COSE_ALG.EdDSA, pair.publicKey, new Uint8Array([9]), signature),
    ).toBe(true);
    const broken = createExternalSigner({
      alg: COSE_ALG.EdDSA,
      kid: pair.kid,
      sign: () => new Uint8Array(0),
    });
    await expect(broken.sign(new Uint8Array([9]))).rejects.toBeInstanceOf(CoreError);
  });

  it('refuses public keys and mismatched algorithms', () => {
    const pair = generateSigningKeyPair('ed25519');
    expect(codeOf(() => createKeySigner(pair.publicKey))).toBe('MANIFEST_KEY_INVALID');
    expect(codeOf(() => createKeySigner(pair.privateKey, { alg: COSE_ALG.ES256 }))).toBe(
      'MANIFEST_UNSUPPORTED',
    );
  });
});
