import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  CONTENT_ENCRYPTION_ALGS,
  ciphertextLength,
  createPayloadCipher,
  decryptPayload,
} from './index.js';

describe('createPayloadCipher', () => {
  for (const contentAlg of CONTENT_ENCRYPTION_ALGS) {
    it(`${contentAlg}: chunks encrypted one by one decrypt as one payload`, () => {
      const kek = randomBytes(32);
      const plaintext = randomBytes(10_007);
      const cipher = createPayloadCipher({ contentAlg, recipients: [{ kek }] });
      const parts: Buffer[] = [];
      for (let at = 0; at < plaintext.length; at += 333) {
        parts.push(cipher.update(plaintext.subarray(at, at + 333)));
      }
      parts.push(cipher.final());
      const ciphertext = Buffer.concat(parts);
      expect(ciphertext.length).toBe(ciphertextLength(contentAlg, plaintext.length));
      expect(
        Buffer.from(decryptPayload(cipher.encryptionInfo, kek, ciphertext)).equals(plaintext),
      ).toBe(true);
    });
  }
});
