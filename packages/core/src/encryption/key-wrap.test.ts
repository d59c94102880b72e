import { describe, expect, it } from 'vitest';
import { unwrapKey, wrapKey } from './key-wrap.js';

const hex = (s: string) => Buffer.from(s.replace(/\s/g, ''), 'hex');

describe('AES key wrap (RFC 3394)', () => {
  // RFC 3394 section 4.1 and 4.6 test vectors.
  it('wraps 128 bits of key data with a 128-bit KEK as RFC 3394 4.1 states', () => {
    const wrapped = wrapKey(
      hex('000102030405060708090A0B0C0D0E0F'),
      hex('00112233445566778899AABBCCDDEEFF'),
    );
    expect(Buffer.from(wrapped).toString('hex').toUpperCase()).toBe(
      '1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5',
    );
  });

  it('wraps 256 bits of key data with a 256-bit KEK as RFC 3394 4.6 states', () => {
    const kek = hex('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F');
    const data = hex('00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F');
    const expected =
      '28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21';
    expect(Buffer.from(wrapKey(kek, data)).toString('hex').toUpperCase()).toBe(expected);
    expect(Buffer.from(unwrapKey(kek, hex(expected))).equals(data)).toBe(true);
  });

  it('fails unwrap with a typed error under a wrong KEK', () => {
    const wrapped = wrapKey(
      hex('000102030405060708090A0B0C0D0E0F'),
      hex('00112233445566778899AABBCCDDEEFF'),
    );
    expect(() => unwrapKey(hex('FF0102030405060708090A0B0C0D0E0F'), wrapped)).toThrow(
      expect.objectContaining({ code: 'MANIFEST_KEY_UNWRAP_FAILED' }),
    );
  });

  it('fails unwrap with a typed error on a tampered or truncated wrapped key', () => {
    const kek = hex('000102030405060708090A0B0C0D0E0F');
    const wrapped = Buffer.from(wrapKey(kek, hex('00112233445566778899AABBCCDDEEFF')));
    wrapped[10] = (wrapped[10] ?? 0) ^ 0x80;
    expect(() => unwrapKey(kek, wrapped)).toThrow(
      expect.objectContaining({ code: 'MANIFEST_KEY_UNWRAP_FAILED' }),
    );
    expect(() => unwrapKey(kek, wrapped.subarray(0, 20))).toThrow(
      expect.objectContaining({ code: 'MANIFEST_KEY_UNWRAP_FAILED' }),
    );
  });

  it('rejects a KEK of the wrong size with MANIFEST_KEY_INVALID', () => {
    expect(() => wrapKey(new Uint8Array(24), new Uint8Array(16))).toThrow(
      expect.objectContaining({ code: 'MANIFEST_KEY_INVALID' }),
    );
    expect(() => wrapKey(new Uint8Array(16), new Uint8Array(20))).toThrow(
      expect.objectContaining({ code: 'MANIFEST_KEY_INVALID' }),
    );
  });
});
