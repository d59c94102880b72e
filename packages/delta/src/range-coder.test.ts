import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NumberModel, SignedModel } from './patch-model.js';
import { newProbs, RangeDecoder, RangeEncoder } from './range-coder.js';

function decoderFor(bytes: Uint8Array): RangeDecoder {
  const rc = new RangeDecoder(bytes);
  rc.end = bytes.length;
  rc.inputComplete = true;
  expect(rc.init()).toBe(true);
  return rc;
}

describe('range coder', () => {
  it('decodes modelled, raw and tree-coded bits exactly as encoded and reads every byte', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ k: fc.constant('bit' as const), ctx: fc.nat(7), v: fc.nat(1) }),
            fc.record({
              k: fc.constant('direct' as const),
              n: fc.integer({ min: 1, max: 32 }),
              v: fc.nat(),
            }),
            fc.record({ k: fc.constant('tree' as const), v: fc.nat(255) }),
          ),
          { maxLength: 400 },
        ),
        (ops) => {
          const enc = new RangeEncoder();
          let probs = newProbs(8);
          let tree = newProbs(256);
          for (const op of ops) {
            if (op.k === 'bit') enc.encodeBit(probs, op.ctx, op.v);
            else if (op.k === 'direct') enc.encodeDirect(op.v % 2 ** op.n, op.n);
            else enc.encodeTree(tree, 0, 8, op.v);
          }
          const bytes = enc.finish();
          const dec = decoderFor(bytes);
          probs = newProbs(8);
          tree = newProbs(256);
          for (const op of ops) {
            if (op.k === 'bit') expect(dec.decodeBit(probs, op.ctx)).toBe(op.v);
            else if (op.k === 'direct') expect(dec.decodeDirect(op.n)).toBe(op.v % 2 ** op.n);
            else expect(dec.decodeTree(tree, 0, 8)).toBe(op.v);
          }
          expect(dec.pos).toBe(bytes.length);
          expect(dec.overread).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('codes numbers up to 2^32 - 2 and signed numbers of either sign', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 0xfffffffe })),
        fc.array(fc.integer({ min: -0x7fffffff, max: 0x7fffffff })),
        (unsigned, signed) => {
          const enc = new RangeEncoder();
          const u = new NumberModel();
          const s = new SignedModel();
          for (const v of unsigned) u.encode(enc, v);
          for (const v of signed) s.encode(enc, v);
          const dec = decoderFor(enc.finish());
          const u2 = new NumberModel();
          const s2 = new SignedModel();
          expect(unsigned.map(() => u2.decode(dec))).toEqual(unsigned);
          expect(signed.map(() => s2.decode(dec))).toEqual(signed);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('compresses a skewed bit source well below one byte per bit', () => {
    const enc = new RangeEncoder();
    const probs = newProbs(1);
    for (let i = 0; i < 80_000; i++) enc.encodeBit(probs, 0, i % 50 === 0 ? 1 : 0);
    expect(enc.finish().length).toBeLessThan(2_000);
  });
});
