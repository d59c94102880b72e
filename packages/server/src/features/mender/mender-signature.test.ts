import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MenderJwt } from './mender-jwt.js';
import { readMenderPublicKey, verifyMenderSignature } from './mender-signature.js';

const body = Buffer.from('{"id_data":"{\\"mac\\":\\"x\\"}","pubkey":"…"}');
const pem = (k: { export(o: object): string | Buffer }) =>
  k.export({ format: 'pem', type: 'spki' }).toString();

describe('X-MEN-Signature', () => {
  it('accepts ECDSA P-256 signatures in DER and in raw r‖s form, and refuses them over other bytes', () => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const key = readMenderPublicKey(pem(pair.publicKey));
    for (const dsaEncoding of ['der', 'ieee-p1363'] as const) {
      const sig = sign('sha256', body, { key: pair.privateKey, dsaEncoding }).toString('base64');
      expect(() => verifyMenderSignature(key, body, sig)).not.toThrow();
      expect(() =>
        verifyMenderSignature(key, Buffer.concat([body, Buffer.from(' ')]), sig),
      ).toThrow(expect.objectContaining({ code: 'MENDER_SIGNATURE_INVALID' }));
    }
  });

  it('refuses a signature made with a key of another type, and a repeated header', () => {
    const rsa = readMenderPublicKey(
      pem(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey),
    );
    const ed = generateKeyPairSync('ed25519');
    const sig = sign(null, body, ed.privateKey).toString('base64');
    expect(() => verifyMenderSignature(rsa, body, sig)).toThrow(
      expect.objectContaining({ code: 'MENDER_SIGNATURE_INVALID' }),
    );
    expect(() => verifyMenderSignature(rsa, body, ['a', 'b'])).toThrow(
      expect.objectContaining({ code: 'MENDER_SIGNATURE_INVALID' }),
    );
  });

  it('names one key one way: the same key in PKCS#1 and SPKI PEM has one digest', () => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const spki = readMenderPublicKey(pem(pair.publicKey));
    const pkcs1 = readMenderPublicKey(
      pair.publicKey.export({ format: 'pem', type: 'pkcs1' }).toString(),
    );
    expect(pkcs1.digest).toBe(spki.digest);
    expect(pkcs1.pem).toBe(spki.pem);
  });
});

describe('Mender token', () => {
  const jwt = new MenderJwt(Buffer.alloc(32, 7), 60);
  const now = Date.parse('2026-12-03T12:00:00Z');
  const subject = { tenantId: 'ten_default', deviceId: 'dev_a', authSetId: 'mas_1' };

  it('round-trips until it expires', () => {
    const token = jwt.issue(subject, now);
    expect(jwt.verify(token, now + 59_000)).toMatchObject(subject);
    expect(jwt.verify(token, now + 60_000)).toBeUndefined();
  });

  it('refuses a token of another key, a changed claim or a non-HS256 header', () => {
    const token = jwt.issue(subject, now);
    expect(new MenderJwt(Buffer.alloc(32, 8), 60).verify(token, now)).toBeUndefined();
    const [h, p, s] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    const changed = Buffer.from(JSON.stringify({ ...claims, exp: claims.exp + 3600 })).toString(
      'base64url',
    );
    expect(jwt.verify(`${h}.${changed}.${s}`, now)).toBeUndefined();
    const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    expect(jwt.verify(`${none}.${p}.`, now)).toBeUndefined();
    expect(jwt.verify(`${none}.${p}.${s}`, now)).toBeUndefined();
  });
});
