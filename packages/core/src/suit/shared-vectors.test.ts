import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CoreError } from '../errors.js';
import { coseKeyToKeyObject, decodeCoseKey } from '../keys/cose-key.js';
import { decodeEnvelope } from './decode-envelope.js';
import { verifyEnvelope } from './verify-envelope.js';

// The shared SUIT vectors live beside the project (../shared from the repository root).
const dir = new URL('../../../../../shared/vectors/suit/', import.meta.url);

interface VectorIndex {
  keys: Record<string, { pem?: string; kHex?: string; coseKeyHex: string }>;
  vectors: {
    id: string;
    file: string;
    bytes: number;
    verifyKey: string;
    expected: { authentic: boolean; reason?: string };
    outline: { severable: Record<string, string>; components: string[][]; sequenceNumber: number };
  }[];
}

const index: VectorIndex = JSON.parse(readFileSync(new URL('vectors.json', dir), 'utf8'));
const read = (file: string) => new Uint8Array(readFileSync(new URL(file, dir)));

function keyFor(name: string): KeyObject {
  const k = index.keys[name]!;
  if (k.pem) return createPublicKey(readFileSync(new URL(k.pem, dir)));
  return createSecretKey(Buffer.from(k.kHex!, 'hex'));
}

const EXPECTED_NEGATIVE_CODES: Record<string, string> = {
  'signature invalid': 'MANIFEST_SIGNATURE_INVALID',
  'SUIT_Digest mismatch (signature itself valid)': 'MANIFEST_DIGEST_MISMATCH',
  'severable element digest mismatch': 'MANIFEST_DIGEST_MISMATCH',
};

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof CoreError) return error.code;
    throw error;
  }
  return 'OK';
}

describe('shared SUIT vectors (../shared/vectors/suit/vectors.json)', () => {
  it('indexes 30 authentic envelopes and 3 negatives', () => {
    expect(index.vectors.filter((v) => v.expected.authentic)).toHaveLength(30);
    expect(index.vectors.filter((v) => !v.expected.authentic)).toHaveLength(3);
  });

  for (const v of index.vectors) {
    if (v.expected.authentic) {
      it(`${v.id} verifies with ${v.verifyKey}`, () => {
        const bytes = read(v.file);
        expect(bytes.length).toBe(v.bytes);
        const summary = verifyEnvelope(bytes, { keys: [{ key: keyFor(v.verifyKey) }] });
        expect(summary.signers).toHaveLength(1);
        expect(summary.sequenceNumber).toBe(v.outline.sequenceNumber);
        // The index writes component id elements as hex, or as text when they are printable.
        const ids = summary.components.map((c, i) =>
          c.id.map((p, j) => {
            const want = v.outline.components[i]?.[j];
            const hex = Buffer.from(p).toString('hex');
            return want === Buffer.from(p).toString('utf8') ? want : hex;
          }),
        );
        expect(ids).toEqual(v.outline.components);
        const severed = Object.entries(v.outline.severable)
          .filter(([, state]) => state.startsWith('severed'))
          .map(([member]) => member.split(' ')[1]);
        expect(
          summary.severedMembers.map((m) => (m === 'payloadFetch' ? 'payload-fetch' : m)),
        ).toEqual(severed);
      });
    } else {
      const expected = EXPECTED_NEGATIVE_CODES[v.expected.reason!]!;
      it(`${v.id} is rejected with ${expected}`, () => {
        expect(
          codeOf(() => verifyEnvelope(read(v.file), { keys: [{ key: keyFor(v.verifyKey) }] })),
        ).toBe(expected);
      });
    }
  }

  it('rejects the dependency example when checked with the other (wrong) P-256 key', () => {
    const bytes = read('enc-esdh-dependency.cbor');
    expect(
      codeOf(() => verifyEnvelope(bytes, { keys: [{ key: keyFor('suit-example-p256') }] })),
    ).toBe('MANIFEST_SIGNATURE_INVALID');
  });

  it('accepts the COSE_Key form of each published public key as well as the PEM', () => {
    const cose = coseKeyToKeyObject(
      decodeCoseKey(Buffer.from(index.keys['suit-example-p256']!.coseKeyHex, 'hex')),
      'public',
    );
    expect(
      verifyEnvelope(read('mspec-example0.cbor'), { keys: [{ key: cose }] }).signers,
    ).toHaveLength(1);
  });

  it('exposes the encryption-info bytes of the encryption examples', () => {
    for (const file of [
      'enc-aeskw-write-hmac.cbor',
      'enc-esdh-write-esp256.cbor',
      'enc-aeskw-fetch-copy-hmac.cbor',
    ]) {
      const envelope = decodeEnvelope(read(file));
      const commands = envelope.manifest.install!.value!.commands;
      const infos = commands.flatMap((c) =>
        c.kind === 'parameters' && c.parameters.encryptionInfo ? [c.parameters.encryptionInfo] : [],
      );
      expect(infos).toHaveLength(1);
      expect(infos[0]![0]).toBe(0xd8); // tag 96 (COSE_Encrypt): d8 60
      expect(infos[0]![1]).toBe(0x60);
    }
  });

  it('lists both images of the A/B example in the summary (every try-each alternative)', () => {
    const summary = verifyEnvelope(read('mspec-example3.cbor'), {
      keys: [{ key: keyFor('suit-example-p256') }],
    });
    const payloads = summary.components[0]!.payloads.map((p) => [
      p.uri,
      p.slot,
      p.size,
      Buffer.from(p.digest!.bytes).toString('hex').slice(0, 8),
    ]);
    expect(payloads).toEqual([
      ['http://example.com/file1.bin', 0, 34768, '00112233'],
      ['http://example.com/file2.bin', 1, 76834, '01234567'],
    ]);
  });

  it('reports the text of example 2 in its language', () => {
    const summary = verifyEnvelope(read('mspec-example2-full.cbor'), {
      keys: [{ key: keyFor('suit-example-p256') }],
    });
    const en = summary.text!.languages.get('en-US')!;
    expect(en.fields.manifestDescription).toMatch(/^## Example 2/);
    expect(en.components[0]!.fields.vendorDomain).toBe('arm.com');
  });
});
