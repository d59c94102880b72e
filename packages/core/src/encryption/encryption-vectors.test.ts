import { createHash, type KeyObject } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { decodeCbor } from '../cbor/cbor-decode.js';
import { CborMap, CborTag, type CborValue } from '../cbor/cbor-types.js';
import { CoreError } from '../errors.js';
import { suitVectors } from '../suit/suit-vectors.js';
import {
  createDecryptStream,
  decodeEncryptionInfo,
  decryptPayload,
  encodeEncryptionInfo,
  unwrapContentKey,
} from './index.js';

const { index, read } = suitVectors;

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The vector's key as a device holds it (imported from the index's COSE_Key), with its kid. */
const keyFor = (name: string): { key: KeyObject; kid?: string } => suitVectors.recipientKey(name);

describe('SUIT encryption vectors', () => {
  it('index lists the four detached encryption examples', () => {
    expect(index.encryptedPayloads.map((v) => v.id).sort()).toEqual([
      'enc-aeskw-a128ctr',
      'enc-aeskw-a128gcm',
      'enc-esdh-a128ctr',
      'enc-esdh-a128gcm',
    ]);
  });

  for (const vector of index.encryptedPayloads) {
    describe(vector.id, () => {
      const infoBytes = read(vector.info);
      const payload = read(vector.payload);
      const plaintext = Buffer.from(vector.expect.plaintext);

      it('files match the digests in the index', () => {
        expect(sha256Hex(infoBytes)).toBe(vector.infoSha256);
        expect(sha256Hex(payload)).toBe(vector.payloadSha256);
      });

      it('decodes to its index entry (algorithms and IV)', () => {
        const info = decodeEncryptionInfo(infoBytes);
        expect(info.contentAlg).toBe(vector.expect.contentAlgorithm);
        expect(Buffer.from(info.iv).toString('hex')).toBe(vector.expect.iv);
        expect(info.ciphertext).toBeNull();
        expect(info.recipients).toHaveLength(1);
        expect(info.recipients[0]?.alg).toBe(vector.expect.keyDistribution);
      });

      it('unwraps the content-encryption key the index states', () => {
        const cek = unwrapContentKey(decodeEncryptionInfo(infoBytes), keyFor(vector.decryptWith));
        expect(Buffer.from(cek).toString('hex')).toBe(vector.expect.cek);
      });

      it('decrypts one-shot to the stated plaintext', () => {
        const out = decryptPayload(infoBytes, keyFor(vector.decryptWith), payload);
        expect(Buffer.from(out).toString('utf8')).toBe(vector.expect.plaintext);
      });

      it('decrypts as a stream fed one byte at a time', async () => {
        const chunks = [...payload].map((b) => Buffer.from([b]));
        const out = await buffer(
          Readable.from(chunks).pipe(createDecryptStream(infoBytes, keyFor(vector.decryptWith))),
        );
        expect(out.equals(plaintext)).toBe(true);
      });

      it('re-encodes byte for byte, also when handed Node Buffers', () => {
        const asBuffer = Buffer.from(read(vector.info));
        const again = encodeEncryptionInfo(decodeEncryptionInfo(asBuffer));
        expect(Buffer.from(again).equals(asBuffer)).toBe(true);
        const out = decryptPayload(
          asBuffer,
          keyFor(vector.decryptWith),
          Buffer.from(read(vector.payload)),
        );
        expect(Buffer.from(out).equals(plaintext)).toBe(true);
      });

      it('rejects a flipped payload bit with a typed error (GCM) or a wrong plaintext digest (CTR)', async () => {
        const tampered = Buffer.from(payload);
        tampered[3] = (tampered[3] ?? 0) ^ 0x01;
        if (vector.expect.contentAlgorithm.endsWith('GCM')) {
          expect(() => decryptPayload(infoBytes, keyFor(vector.decryptWith), tampered)).toThrow(
            expect.objectContaining({ code: 'MANIFEST_DECRYPTION_FAILED' }),
          );
          const stream = createDecryptStream(infoBytes, keyFor(vector.decryptWith));
          await expect(
            pipeline(Readable.from([tampered]), stream, async function* (src) {
              for await (const _ of src) yield _;
            }),
          ).rejects.toMatchObject({ code: 'MANIFEST_DECRYPTION_FAILED' });
        } else {
          // CTR has no tag: only the SUIT image digest over the plaintext catches tampering.
          const out = decryptPayload(infoBytes, keyFor(vector.decryptWith), tampered);
          expect(sha256Hex(out)).not.toBe(sha256Hex(plaintext));
        }
      });
    });
  }
});

/** Finds every suit-parameter-encryption-info (19) and suit-parameter-content (18) in an envelope. */
function encryptedParameters(envelope: Uint8Array): { info: Uint8Array; content?: Uint8Array }[] {
  const found: { info: Uint8Array; content?: Uint8Array }[] = [];
  const visitSequence = (seq: readonly CborValue[]) => {
    for (let i = 0; i + 1 < seq.length; i += 2) {
      const arg = seq[i + 1];
      if (arg instanceof CborMap && arg.has(19)) {
        const content = arg.get(18) as Uint8Array | undefined;
        found.push({ info: arg.get(19) as Uint8Array, ...(content ? { content } : {}) });
      }
    }
  };
  const decodeSequence = (bytes: Uint8Array) => decodeCbor(bytes) as readonly CborValue[];
  const visitEnvelope = (bytes: Uint8Array) => {
    let env = decodeCbor(bytes);
    if (env instanceof CborTag) env = env.value;
    const map = env as CborMap;
    const manifest = decodeCbor(map.get(3) as Uint8Array) as CborMap;
    for (const key of [7, 8, 9, 10, 11, 12, 16, 17, 20]) {
      const member = manifest.get(key);
      if (member instanceof Uint8Array) visitSequence(decodeSequence(member));
    }
    const severedInstall = map.get(20);
    if (severedInstall instanceof Uint8Array) visitSequence(decodeSequence(severedInstall));
    for (const [k, v] of map.entries)
      if (typeof k === 'string' && v instanceof Uint8Array) visitEnvelope(v);
  };
  visitEnvelope(envelope);
  return found;
}

describe('SUIT envelopes with encrypted payloads', () => {
  const envelopes = index.envelopes.filter((v) => /esdh|aeskw/.test(v.file));

  it('covers the draft examples and the libcsuit dependency example', () => {
    expect(envelopes.length).toBeGreaterThanOrEqual(6);
  });

  for (const vector of envelopes) {
    it(`${vector.file}: its encryption info decrypts the payload to the firmware text`, () => {
      const params = encryptedParameters(read(vector.file));
      expect(params.length).toBeGreaterThan(0);
      for (const { info, content } of params) {
        const decoded = decodeEncryptionInfo(info);
        const kid = Buffer.from(decoded.recipients[0]?.kid ?? []).toString();
        const key = keyFor(
          kid === 'kid-2' || decoded.recipients[0]?.alg.startsWith('ECDH')
            ? 'enc-esdh-receiver-p256'
            : 'enc-a128kw-kek',
        );
        // Fetch+copy examples carry no content: their payload is the detached A128GCM example file.
        const ciphertext = content ?? read('enc-payload-aeskw-a128gcm.bin');
        expect(Buffer.from(decryptPayload(info, key, ciphertext)).toString()).toBe(
          'This is a real firmware image.',
        );
      }
    });
  }

  it('a decrypt with the wrong kind of key is a typed error', () => {
    const infoBytes = read('enc-info-aeskw-a128gcm.cbor');
    const err = (() => {
      try {
        decryptPayload(
          infoBytes,
          keyFor('enc-esdh-receiver-p256'),
          read('enc-payload-aeskw-a128gcm.bin'),
        );
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(CoreError);
    expect((err as CoreError).code).toBe('MANIFEST_RECIPIENT_NOT_FOUND');
  });
});
