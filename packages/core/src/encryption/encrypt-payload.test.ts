import { generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import {
  CONTENT_ENCRYPTION_ALGS,
  type ContentEncryptionAlg,
  ciphertextLength,
  createDecryptStream,
  createEncryptStream,
  decodeEncryptionInfo,
  decryptPayload,
  type EncryptionRecipient,
  encodeEncryptionInfo,
  encryptPayload,
  type RecipientKey,
} from './index.js';

interface Case {
  name: string;
  recipient: EncryptionRecipient;
  key: RecipientKey;
  /** The same kind of key, but not the recipient's. */
  wrongKey: RecipientKey;
}

function deviceCase(name: string, curve: 'P-256' | 'X25519', alg?: 'ECDH-ES+A256KW'): Case {
  const gen = () =>
    curve === 'X25519'
      ? generateKeyPairSync('x25519')
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pair = gen();
  return {
    name,
    recipient: { publicKey: pair.publicKey, kid: `dev-${curve}`, ...(alg ? { alg } : {}) },
    key: pair.privateKey,
    wrongKey: gen().privateKey,
  };
}

const cases: Case[] = [
  {
    name: 'A128KW class KEK',
    recipient: { kek: randomBytes(16), kid: 'class' },
    key: randomBytes(16),
    wrongKey: randomBytes(16),
  },
  {
    name: 'A256KW class KEK',
    recipient: { kek: randomBytes(32) },
    key: randomBytes(32),
    wrongKey: randomBytes(32),
  },
  deviceCase('ECDH-ES+A128KW P-256 device', 'P-256'),
  deviceCase('ECDH-ES+A128KW X25519 device', 'X25519'),
  deviceCase('ECDH-ES+A256KW P-256 device', 'P-256', 'ECDH-ES+A256KW'),
];
// KEK cases: the recipient's KEK is the decryption key.
for (const c of cases) if ('kek' in c.recipient) c.key = c.recipient.kek as Uint8Array;

/** Splits bytes into chunks of random sizes (1 byte up to 70 KiB) to cross every boundary. */
function randomChunks(bytes: Uint8Array): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    const size = 1 + Math.floor(Math.random() * (Math.random() < 0.3 ? 20 : 70_000));
    chunks.push(Buffer.from(bytes.subarray(at, at + size)));
    at += size;
  }
  return chunks;
}

async function streamThrough(stream: NodeJS.ReadWriteStream, data: Uint8Array): Promise<Buffer> {
  return buffer(Readable.from(randomChunks(data)).pipe(stream));
}

describe('payload encryption round trips', () => {
  for (const alg of CONTENT_ENCRYPTION_ALGS) {
    for (const c of cases) {
      it(`${alg} with ${c.name}: stream encrypt → stream decrypt gives the plaintext back`, async () => {
        const plaintext = randomBytes(150_000 + Math.floor(Math.random() * 1000));
        const { encryptionInfo, stream } = createEncryptStream({
          contentAlg: alg,
          recipients: [c.recipient],
        });
        const ciphertext = await streamThrough(stream, plaintext);
        expect(ciphertext.length).toBe(ciphertextLength(alg, plaintext.length));
        expect(ciphertext.subarray(0, 64).equals(plaintext.subarray(0, 64))).toBe(false);
        const out = await streamThrough(createDecryptStream(encryptionInfo, c.key), ciphertext);
        expect(out.equals(plaintext)).toBe(true);
        // The one-shot helper agrees with the stream.
        expect(
          Buffer.from(decryptPayload(encryptionInfo, c.key, ciphertext)).equals(plaintext),
        ).toBe(true);
      });

      it(`${alg} with ${c.name}: a wrong key of the same kind fails to unwrap`, () => {
        const { encryptionInfo, ciphertext } = encryptPayload(randomBytes(100), {
          contentAlg: alg,
          recipients: [c.recipient],
        });
        expect(() => decryptPayload(encryptionInfo, c.wrongKey, ciphertext)).toThrow(
          expect.objectContaining({ code: 'MANIFEST_KEY_UNWRAP_FAILED' }),
        );
        expect(() => createDecryptStream(encryptionInfo, c.wrongKey)).toThrow(
          expect.objectContaining({ code: 'MANIFEST_KEY_UNWRAP_FAILED' }),
        );
      });
    }
  }

  it('encrypts an empty payload', async () => {
    for (const alg of CONTENT_ENCRYPTION_ALGS) {
      const kek = randomBytes(16);
      const { encryptionInfo, stream } = createEncryptStream({
        contentAlg: alg,
        recipients: [{ kek }],
      });
      const ciphertext = await buffer(Readable.from([]).pipe(stream));
      expect(ciphertext.length).toBe(ciphertextLength(alg, 0));
      expect(Buffer.from(decryptPayload(encryptionInfo, kek, ciphertext)).length).toBe(0);
    }
  });

  it('uses a fresh CEK and IV for every encryption', () => {
    const kek = randomBytes(16);
    const a = encryptPayload(Buffer.alloc(64), { contentAlg: 'A128CTR', recipients: [{ kek }] });
    const b = encryptPayload(Buffer.alloc(64), { contentAlg: 'A128CTR', recipients: [{ kek }] });
    expect(Buffer.from(a.ciphertext).equals(Buffer.from(b.ciphertext))).toBe(false);
    expect(Buffer.from(a.info.iv).equals(Buffer.from(b.info.iv))).toBe(false);
  });
});

describe('several recipients', () => {
  const classKek = randomBytes(16);
  const deviceA = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const deviceB = generateKeyPairSync('x25519');
  const plaintext = randomBytes(5000);
  const { encryptionInfo, ciphertext } = encryptPayload(plaintext, {
    contentAlg: 'A128GCM',
    recipients: [
      { kek: classKek, kid: 'class-1' },
      { publicKey: deviceA.publicKey, kid: 'dev-a' },
      { publicKey: deviceB.publicKey, kid: 'dev-b' },
    ],
  });

  it('carries one recipient per key holder, all sharing one ciphertext', () => {
    const info = decodeEncryptionInfo(encryptionInfo);
    expect(info.recipients.map((r) => [r.alg, Buffer.from(r.kid ?? []).toString()])).toEqual([
      ['A128KW', 'class-1'],
      ['ECDH-ES+A128KW', 'dev-a'],
      ['ECDH-ES+A128KW', 'dev-b'],
    ]);
  });

  it('lets each key holder decrypt', () => {
    for (const key of [
      classKek,
      deviceA.privateKey,
      deviceB.privateKey,
      { key: deviceA.privateKey, kid: 'dev-a' },
    ]) {
      expect(Buffer.from(decryptPayload(encryptionInfo, key, ciphertext)).equals(plaintext)).toBe(
        true,
      );
    }
  });

  it('answers a key whose kid matches no recipient with MANIFEST_RECIPIENT_NOT_FOUND', () => {
    expect(() =>
      decryptPayload(encryptionInfo, { key: deviceA.privateKey, kid: 'dev-z' }, ciphertext),
    ).toThrow(expect.objectContaining({ code: 'MANIFEST_RECIPIENT_NOT_FOUND' }));
  });

  it('answers a 32-byte KEK (no A256KW recipient) with MANIFEST_RECIPIENT_NOT_FOUND', () => {
    expect(() => decryptPayload(encryptionInfo, randomBytes(32), ciphertext)).toThrow(
      expect.objectContaining({ code: 'MANIFEST_RECIPIENT_NOT_FOUND' }),
    );
  });
});

describe('tampering and truncation', () => {
  const kek = randomBytes(16);
  const plaintext = randomBytes(40_000);

  function sealed(alg: ContentEncryptionAlg) {
    return encryptPayload(plaintext, { contentAlg: alg, recipients: [{ kek }] });
  }

  async function streamDecrypt(info: Uint8Array, ciphertext: Uint8Array): Promise<Buffer> {
    return streamThrough(createDecryptStream(info, kek), ciphertext);
  }

  for (const alg of ['A128GCM', 'A256GCM'] as const) {
    it(`${alg}: a flipped ciphertext bit, a flipped tag bit or a cut tail is MANIFEST_DECRYPTION_FAILED`, async () => {
      const { encryptionInfo, ciphertext } = sealed(alg);
      const flipped = Buffer.from(ciphertext);
      flipped[12_345] = (flipped[12_345] ?? 0) ^ 0x04;
      const badTag = Buffer.from(ciphertext);
      badTag[badTag.length - 1] = (badTag[badTag.length - 1] ?? 0) ^ 0x01;
      for (const bad of [
        flipped,
        badTag,
        ciphertext.subarray(0, ciphertext.length - 1),
        ciphertext.subarray(0, 10),
        new Uint8Array(0),
      ]) {
        expect(() => decryptPayload(encryptionInfo, kek, bad)).toThrow(
          expect.objectContaining({ code: 'MANIFEST_DECRYPTION_FAILED' }),
        );
        await expect(streamDecrypt(encryptionInfo, bad)).rejects.toMatchObject({
          code: 'MANIFEST_DECRYPTION_FAILED',
        });
      }
    });

    it(`${alg}: a changed IV is MANIFEST_DECRYPTION_FAILED`, () => {
      const { info, ciphertext } = sealed(alg);
      const iv = Buffer.from(info.iv);
      iv[0] = (iv[0] ?? 0) ^ 0xff;
      expect(() => decryptPayload({ ...info, iv }, kek, ciphertext)).toThrow(
        expect.objectContaining({ code: 'MANIFEST_DECRYPTION_FAILED' }),
      );
    });
  }

  it('a flipped bit in the wrapped CEK is MANIFEST_KEY_UNWRAP_FAILED', () => {
    const { info, ciphertext } = sealed('A128CTR');
    const recipient = info.recipients[0]!;
    const encryptedKey = Buffer.from(recipient.encryptedKey);
    encryptedKey[5] = (encryptedKey[5] ?? 0) ^ 0x10;
    expect(() =>
      decryptPayload({ ...info, recipients: [{ ...recipient, encryptedKey }] }, kek, ciphertext),
    ).toThrow(expect.objectContaining({ code: 'MANIFEST_KEY_UNWRAP_FAILED' }));
  });

  it('AES-CTR has no tag: a flipped bit changes exactly that plaintext bit (the image digest must catch it)', () => {
    const { encryptionInfo, ciphertext } = sealed('A128CTR');
    const flipped = Buffer.from(ciphertext);
    flipped[777] = (flipped[777] ?? 0) ^ 0x01;
    const out = Buffer.from(decryptPayload(encryptionInfo, kek, flipped));
    expect(out[777]).toBe((plaintext[777] ?? 0) ^ 0x01);
    out[777] = plaintext[777] ?? 0;
    expect(out.equals(plaintext)).toBe(true);
  });
});

describe('bad keys', () => {
  it('refuses a public key for decryption and an Ed25519 key anywhere with MANIFEST_KEY_INVALID', () => {
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const ed = generateKeyPairSync('ed25519');
    const { encryptionInfo, ciphertext } = encryptPayload(Buffer.alloc(10), {
      contentAlg: 'A128GCM',
      recipients: [{ publicKey: p256.publicKey }],
    });
    for (const key of [p256.publicKey, ed.privateKey] as KeyObject[]) {
      expect(() => decryptPayload(encryptionInfo, key, ciphertext)).toThrow(
        expect.objectContaining({ code: 'MANIFEST_KEY_INVALID' }),
      );
    }
    expect(() =>
      encryptPayload(Buffer.alloc(1), {
        contentAlg: 'A128GCM',
        recipients: [{ publicKey: ed.publicKey }],
      }),
    ).toThrow(expect.objectContaining({ code: 'MANIFEST_KEY_INVALID' }));
  });

  it('refuses a KEK whose size does not fit the algorithm, and no recipients at all', () => {
    const tries = [
      () =>
        encryptPayload(Buffer.alloc(1), {
          contentAlg: 'A128GCM',
          recipients: [{ kek: randomBytes(16), alg: 'A256KW' }],
        }),
      () =>
        encryptPayload(Buffer.alloc(1), {
          contentAlg: 'A128GCM',
          recipients: [{ kek: randomBytes(24) }],
        }),
      () => encryptPayload(Buffer.alloc(1), { contentAlg: 'A128GCM', recipients: [] }),
      () => decryptPayload(new Uint8Array([0xd8, 0x60, 0x80]), randomBytes(20), new Uint8Array(0)),
    ];
    for (const attempt of tries) {
      expect(attempt).toThrow(
        expect.objectContaining({
          code: expect.stringMatching(/^MANIFEST_(KEY_INVALID|ENCRYPTION_INFO_MALFORMED)$/),
        }),
      );
    }
  });
});

describe('attached ciphertext', () => {
  it('decrypts a COSE_Encrypt that carries its ciphertext, and refuses a detached one without payload', () => {
    const kek = randomBytes(16);
    const plaintext = randomBytes(300);
    const { info, ciphertext } = encryptPayload(plaintext, {
      contentAlg: 'A128GCM',
      recipients: [{ kek }],
    });
    const attached = encodeEncryptionInfo({ ...info, ciphertext });
    expect(decodeEncryptionInfo(attached).ciphertext).toHaveLength(ciphertext.length);
    expect(Buffer.from(decryptPayload(attached, kek)).equals(plaintext)).toBe(true);
    expect(() => decryptPayload(encodeEncryptionInfo(info), kek)).toThrow(
      expect.objectContaining({ code: 'MANIFEST_ENCRYPTION_INFO_MALFORMED' }),
    );
  });
});

describe('arguments from untyped callers', () => {
  const kek = randomBytes(16);
  const bad: [string, () => unknown, string][] = [
    [
      'an unknown content algorithm',
      () =>
        encryptPayload(Buffer.alloc(1), { contentAlg: 'toString' as never, recipients: [{ kek }] }),
      'MANIFEST_UNSUPPORTED',
    ],
    [
      'an unknown key-wrap algorithm',
      () =>
        encryptPayload(Buffer.alloc(1), {
          contentAlg: 'A128CTR',
          recipients: [{ kek, alg: 'A192KW' as never }],
        }),
      'MANIFEST_KEY_INVALID',
    ],
    [
      'an ECDH algorithm for a KEK',
      () =>
        encryptPayload(Buffer.alloc(1), {
          contentAlg: 'A128CTR',
          recipients: [{ kek, alg: 'ECDH-ES+A128KW' as never }],
        }),
      'MANIFEST_KEY_INVALID',
    ],
    [
      'a PEM string as public key',
      () =>
        encryptPayload(Buffer.alloc(1), {
          contentAlg: 'A128CTR',
          recipients: [{ publicKey: '-----BEGIN' as never }],
        }),
      'MANIFEST_KEY_INVALID',
    ],
    [
      'a numeric kid',
      () =>
        encryptPayload(Buffer.alloc(1), {
          contentAlg: 'A128CTR',
          recipients: [{ kek, kid: 7 as never }],
        }),
      'MANIFEST_KEY_INVALID',
    ],
    [
      'a recipient with neither kek nor publicKey',
      () => encryptPayload(Buffer.alloc(1), { contentAlg: 'A128CTR', recipients: [{} as never] }),
      'MANIFEST_KEY_INVALID',
    ],
    [
      'a string as decryption key',
      () => {
        const { encryptionInfo, ciphertext } = encryptPayload(Buffer.alloc(1), {
          contentAlg: 'A128CTR',
          recipients: [{ kek }],
        });
        return decryptPayload(encryptionInfo, 'secret' as never, ciphertext);
      },
      'MANIFEST_KEY_INVALID',
    ],
  ];
  for (const [name, attempt, code] of bad) {
    it(`answers ${name} with ${code}`, () => {
      expect(attempt).toThrow(expect.objectContaining({ code }));
    });
  }
});
