import { createHash, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { decode, Tag } from 'cbor2';
import { describe, expect, it } from 'vitest';
import { CoreError } from '../errors.js';
import { coseKeyToKeyObject, decodeCoseKey } from '../keys/index.js';
import {
  createDecryptStream,
  decodeEncryptionInfo,
  decryptPayload,
  encodeEncryptionInfo,
} from './index.js';

// The shared SUIT vectors live beside the repository: <repo>/../shared/vectors/suit/.
const repoRoot = new URL('../../../../', import.meta.url);
const vectorDir = new URL('../shared/vectors/suit/', repoRoot);

interface KeyEntry {
  kty?: string;
  coseKeyHex?: string;
}
interface EncVector {
  id: string;
  infoFile: string;
  payloadFile: string;
  infoSha256: string;
  payloadSha256: string;
  decryptKey: string;
  outline: { contentAlg: string; keyDistribution: string; iv: string };
  expected: { cekHex: string; plaintextHex: string; plaintext: string };
}
interface EnvelopeVector {
  id: string;
  file: string;
  kind: string;
  description: string;
}
const index = JSON.parse(readFileSync(new URL('vectors.json', vectorDir), 'utf8')) as {
  keys: Record<string, KeyEntry>;
  encryptionVectors: EncVector[];
  vectors: EnvelopeVector[];
};

function read(name: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(name, vectorDir)));
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * The vector's key as a device holds it, imported from the index's COSE_Key bytes: a Symmetric
 * KEK becomes a secret KeyObject, the EC2 receiver key a P-256 private KeyObject.
 */
function keyFor(name: string): { key: KeyObject; kid?: string } {
  const entry = index.keys[name];
  if (!entry?.coseKeyHex) throw new Error(`vectors.json has no COSE_Key for ${name}`);
  const coseKey = decodeCoseKey(Buffer.from(entry.coseKeyHex, 'hex'));
  const key = coseKeyToKeyObject(coseKey);
  return coseKey.kid ? { key, kid: Buffer.from(coseKey.kid).toString() } : { key };
}

describe('shared SUIT encryption vectors', () => {
  it('index lists the four detached encryption examples', () => {
    expect(index.encryptionVectors.map((v) => v.id).sort()).toEqual([
      'enc-aeskw-a128ctr',
      'enc-aeskw-a128gcm',
      'enc-esdh-a128ctr',
      'enc-esdh-a128gcm',
    ]);
  });

  for (const vector of index.encryptionVectors) {
    describe(vector.id, () => {
      const infoBytes = read(vector.infoFile);
      const payload = read(vector.payloadFile);
      const plaintext = Buffer.from(vector.expected.plaintextHex, 'hex');

      it('files match the digests in the index', () => {
        expect(sha256Hex(infoBytes)).toBe(vector.infoSha256);
        expect(sha256Hex(payload)).toBe(vector.payloadSha256);
      });

      it('decodes to the outline (algorithm and IV)', () => {
        const info = decodeEncryptionInfo(infoBytes);
        expect(vector.outline.contentAlg).toContain(info.contentAlg);
        expect(Buffer.from(info.iv).toString('hex')).toBe(vector.outline.iv);
        expect(info.ciphertext).toBeNull();
        expect(info.recipients).toHaveLength(1);
        expect(vector.outline.keyDistribution).toContain(info.recipients[0]?.alg);
      });

      it('decrypts one-shot to the stated plaintext', () => {
        const out = decryptPayload(infoBytes, keyFor(vector.decryptKey), payload);
        expect(Buffer.from(out).toString('hex')).toBe(vector.expected.plaintextHex);
        expect(Buffer.from(out).toString('utf8')).toBe(vector.expected.plaintext);
      });

      it('decrypts as a stream fed one byte at a time', async () => {
        const chunks = [...payload].map((b) => Buffer.from([b]));
        const out = await buffer(
          Readable.from(chunks).pipe(createDecryptStream(infoBytes, keyFor(vector.decryptKey))),
        );
        expect(out.equals(plaintext)).toBe(true);
      });

      it('re-encodes byte for byte, also when handed Node Buffers', () => {
        const asBuffer = readFileSync(new URL(vector.infoFile, vectorDir));
        const again = encodeEncryptionInfo(decodeEncryptionInfo(asBuffer));
        expect(Buffer.from(again).equals(asBuffer)).toBe(true);
        const out = decryptPayload(
          asBuffer,
          keyFor(vector.decryptKey),
          readFileSync(new URL(vector.payloadFile, vectorDir)),
        );
        expect(Buffer.from(out).equals(plaintext)).toBe(true);
      });

      it('rejects a flipped payload bit with a typed error (GCM) or a wrong plaintext digest (CTR)', async () => {
        const tampered = Buffer.from(payload);
        tampered[3] = (tampered[3] ?? 0) ^ 0x01;
        if (vector.outline.contentAlg.includes('GCM')) {
          expect(() => decryptPayload(infoBytes, keyFor(vector.decryptKey), tampered)).toThrow(
            expect.objectContaining({ code: 'MANIFEST_DECRYPTION_FAILED' }),
          );
          const stream = createDecryptStream(infoBytes, keyFor(vector.decryptKey));
          await expect(
            pipeline(Readable.from([tampered]), stream, async function* (src) {
              for await (const _ of src) yield _;
            }),
          ).rejects.toMatchObject({ code: 'MANIFEST_DECRYPTION_FAILED' });
        } else {
          // CTR has no tag: only the SUIT image digest over the plaintext catches tampering.
          const out = decryptPayload(infoBytes, keyFor(vector.decryptKey), tampered);
          expect(sha256Hex(out)).not.toBe(sha256Hex(plaintext));
        }
      });
    });
  }
});

/** Finds every suit-parameter-encryption-info (19) and suit-parameter-content (18) in an envelope. */
function encryptedParameters(envelope: Uint8Array): { info: Uint8Array; content?: Uint8Array }[] {
  const found: { info: Uint8Array; content?: Uint8Array }[] = [];
  const opts = { preferMap: true } as const;
  const visitSequence = (seq: unknown[]) => {
    for (let i = 0; i + 1 < seq.length; i += 2) {
      const arg = seq[i + 1];
      if (arg instanceof Map && arg.has(19)) {
        const content = arg.get(18) as Uint8Array | undefined;
        found.push({ info: arg.get(19) as Uint8Array, ...(content ? { content } : {}) });
      }
    }
  };
  const visitEnvelope = (bytes: Uint8Array) => {
    let env = decode(bytes, opts) as unknown;
    if (env instanceof Tag) env = env.contents;
    const map = env as Map<unknown, unknown>;
    const manifest = decode(map.get(3) as Uint8Array, opts) as Map<number, unknown>;
    for (const key of [7, 8, 9, 10, 11, 12, 16, 17, 20]) {
      const member = manifest.get(key);
      if (member instanceof Uint8Array) visitSequence(decode(member, opts) as unknown[]);
    }
    const severedInstall = map.get(20);
    if (severedInstall instanceof Uint8Array)
      visitSequence(decode(severedInstall, opts) as unknown[]);
    for (const [k, v] of map)
      if (typeof k === 'string' && v instanceof Uint8Array) visitEnvelope(v);
  };
  visitEnvelope(envelope);
  return found;
}

describe('shared SUIT envelopes with encrypted payloads', () => {
  const envelopes = index.vectors.filter((v) => /esdh|aeskw/.test(v.id));

  it('covers the draft examples and the libcsuit dependency example', () => {
    expect(envelopes.length).toBeGreaterThanOrEqual(6);
  });

  for (const vector of envelopes) {
    it(`${vector.id}: its encryption info decrypts the payload to the firmware text`, () => {
      const params = encryptedParameters(read(vector.file));
      expect(params.length).toBeGreaterThan(0);
      for (const { info, content } of params) {
        const decoded = decodeEncryptionInfo(info);
        const kid = Buffer.from(decoded.recipients[0]?.kid ?? []).toString();
        const key = keyFor(
          kid === 'kid-2' || decoded.recipients[0]?.alg.startsWith('ECDH')
            ? 'suit-enc-esdh-receiver-p256'
            : 'suit-enc-a128kw-kek',
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
          keyFor('suit-enc-esdh-receiver-p256'),
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
