import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { suitVectors } from '../suit/suit-vectors.js';
import { deriveKek, importEphemeralKey, kdfContext, senderKek } from './ecdh-es.js';
import { decodeEncryptionInfo } from './encryption-info.js';

// The device's key, imported from the index's COSE_Key bytes.
const receiverKey = suitVectors.key('enc-esdh-receiver-p256');

describe('ECDH-ES key derivation', () => {
  for (const id of ['enc-esdh-a128ctr', 'enc-esdh-a128gcm']) {
    const vector = suitVectors.index.encryptedPayloads.find((v) => v.id === id)!;
    const info = decodeEncryptionInfo(suitVectors.read(vector.info));
    const recipient = info.recipients[0];
    if (!recipient?.ephemeralKey) throw new Error('vector has no ephemeral key');

    it(`${id}: builds the COSE_KDF_Context the index states`, () => {
      const context = kdfContext(recipient.alg, recipient.protectedHeader);
      expect(Buffer.from(context).toString('hex')).toBe(vector.expect.kdfContext);
    });

    it(`${id}: derives the KEK the index states`, () => {
      const kek = deriveKek(
        recipient.alg,
        recipient.protectedHeader,
        receiverKey,
        importEphemeralKey(recipient.ephemeralKey!),
      );
      expect(Buffer.from(kek).toString('hex')).toBe(vector.expect.kek);
    });
  }

  for (const curve of ['P-256', 'X25519'] as const) {
    it(`sender and receiver derive the same KEK on ${curve}`, () => {
      const pair =
        curve === 'X25519'
          ? generateKeyPairSync('x25519')
          : generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const protectedHeader = new Uint8Array([0xa1, 0x01, 0x38, 0x1c]);
      const { kek, ephemeralKey } = senderKek('ECDH-ES+A128KW', protectedHeader, pair.publicKey);
      expect(ephemeralKey.crv).toBe(curve);
      const again = deriveKek(
        'ECDH-ES+A128KW',
        protectedHeader,
        pair.privateKey,
        importEphemeralKey(ephemeralKey),
      );
      expect(Buffer.from(again).equals(Buffer.from(kek))).toBe(true);
      expect(kek).toHaveLength(16);
    });
  }

  it('rejects an ephemeral point that is not on P-256 as a malformed structure', () => {
    expect(() =>
      importEphemeralKey({
        crv: 'P-256',
        x: new Uint8Array(32).fill(1),
        y: new Uint8Array(32).fill(2),
      }),
    ).toThrow(expect.objectContaining({ code: 'MANIFEST_ENCRYPTION_INFO_MALFORMED' }));
  });

  it('blames a low-order X25519 ephemeral key on the structure, not on the device key', () => {
    const device = generateKeyPairSync('x25519');
    const zero = importEphemeralKey({ crv: 'X25519', x: new Uint8Array(32) });
    const header = new Uint8Array([0xa1, 0x01, 0x38, 0x1c]);
    expect(() => deriveKek('ECDH-ES+A128KW', header, device.privateKey, zero, true)).toThrow(
      expect.objectContaining({ code: 'MANIFEST_ENCRYPTION_INFO_MALFORMED' }),
    );
  });

  it('refuses to encrypt to a key that cannot do ECDH', () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    expect(() =>
      senderKek('ECDH-ES+A128KW', new Uint8Array([0xa1, 0x01, 0x38, 0x1c]), publicKey),
    ).toThrow(expect.objectContaining({ code: 'MANIFEST_KEY_INVALID' }));
  });
});
