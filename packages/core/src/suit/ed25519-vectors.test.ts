import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CoreError } from '../errors.js';
import { buildEd25519Vectors, type Ed25519Vector, TESTDATA } from './ed25519-test-vectors.js';
import { verifyEnvelope } from './verify-envelope.js';

const index: { publicKey: string; vectors: Ed25519Vector[] } = JSON.parse(
  readFileSync(new URL('ed25519-vectors.json', TESTDATA), 'utf8'),
);
const key = createPublicKey(readFileSync(new URL(index.publicKey, TESTDATA)));

describe("Updraft's Ed25519 vectors (testdata/ed25519-vectors.json)", () => {
  for (const v of index.vectors) {
    it(`${v.id}: ${v.expected.authentic ? 'verifies' : `fails with ${v.expected.code}`}`, () => {
      const bytes = new Uint8Array(readFileSync(new URL(v.file, TESTDATA)));
      if (v.expected.authentic) {
        const summary = verifyEnvelope(bytes, { keys: [{ key }] });
        expect(summary.signers.map((s) => s.alg)).toEqual([-8]);
        expect(summary.components.map((c) => c.idHex)).toEqual(v.expected.components);
        expect(summary.sequenceNumber).toBe(v.expected.sequenceNumber);
      } else {
        let code = 'OK';
        try {
          verifyEnvelope(bytes, { keys: [{ key }] });
        } catch (error) {
          if (!(error instanceof CoreError)) throw error;
          code = error.code;
        }
        expect(code).toBe(v.expected.code);
      }
    });
  }

  it('catch a changed byte anywhere in the envelope with a typed error', () => {
    const bytes = new Uint8Array(readFileSync(new URL('ed25519-single.cbor', TESTDATA)));
    const codes = new Set<string>();
    for (let i = 0; i < bytes.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const changed = new Uint8Array(bytes);
        changed[i]! ^= bit;
        try {
          verifyEnvelope(changed, { keys: [{ key }] });
          expect.fail(`byte ${i} ^ ${bit} still verifies`);
        } catch (error) {
          if (!(error instanceof CoreError)) throw error;
          codes.add(error.code);
        }
      }
    }
    expect([...codes].sort()).toEqual([
      'MANIFEST_DIGEST_MISMATCH',
      'MANIFEST_MALFORMED',
      'MANIFEST_SIGNATURE_INVALID',
      'MANIFEST_UNSUPPORTED',
      'MANIFEST_UNTRUSTED_KEY',
    ]);
  });

  it('are reproduced byte for byte by the builder (deterministic CBOR + Ed25519)', async () => {
    for (const [vector, bytes] of await buildEd25519Vectors()) {
      expect(
        Buffer.from(bytes).equals(readFileSync(new URL(vector.file, TESTDATA))),
        vector.id,
      ).toBe(true);
    }
  });
});
