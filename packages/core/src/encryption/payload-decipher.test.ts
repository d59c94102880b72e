import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createPayloadDecipher, encryptPayload } from './index.js';

describe('createPayloadDecipher', () => {
  const kek = randomBytes(32);
  const plaintext = randomBytes(1000);

  it('decrypts AES-GCM fed one byte at a time, releasing plaintext 16 bytes behind the input', () => {
    const { encryptionInfo, ciphertext } = encryptPayload(plaintext, {
      contentAlg: 'A256GCM',
      recipients: [{ kek }],
    });
    const decipher = createPayloadDecipher(encryptionInfo, kek);
    const out: Buffer[] = [];
    let released = 0;
    for (let i = 0; i < ciphertext.length; i++) {
      const piece = decipher.update(ciphertext.subarray(i, i + 1));
      released += piece.length;
      out.push(piece);
      expect(released).toBe(Math.max(0, i + 1 - 16));
    }
    out.push(decipher.final());
    expect(Buffer.concat(out).equals(plaintext)).toBe(true);
  });

  it('decrypts AES-CTR chunk for chunk with no hold-back', () => {
    const { encryptionInfo, ciphertext } = encryptPayload(plaintext, {
      contentAlg: 'A128CTR',
      recipients: [{ kek: kek.subarray(0, 16) }],
    });
    const decipher = createPayloadDecipher(encryptionInfo, kek.subarray(0, 16));
    expect(decipher.update(ciphertext.subarray(0, 7)).equals(plaintext.subarray(0, 7))).toBe(true);
    const rest = Buffer.concat([decipher.update(ciphertext.subarray(7)), decipher.final()]);
    expect(rest.equals(plaintext.subarray(7))).toBe(true);
  });

  it('refuses data after final() and reports a short AES-GCM payload as MANIFEST_DECRYPTION_FAILED', () => {
    const { encryptionInfo, ciphertext } = encryptPayload(plaintext, {
      contentAlg: 'A128GCM',
      recipients: [{ kek }],
    });
    const short = createPayloadDecipher(encryptionInfo, kek);
    short.update(ciphertext.subarray(0, 15));
    expect(() => short.final()).toThrow(
      expect.objectContaining({ code: 'MANIFEST_DECRYPTION_FAILED' }),
    );
    expect(() => short.update(ciphertext.subarray(15, 20))).toThrow(
      expect.objectContaining({ code: 'MANIFEST_DECRYPTION_FAILED' }),
    );
  });
});
