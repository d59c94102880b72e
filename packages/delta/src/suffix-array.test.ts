import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { suffixArray } from './suffix-array.js';

function naive(text: Uint8Array): number[] {
  const idx = [...text.keys()];
  return idx.sort((a, b) => {
    for (let k = 0; ; k++) {
      if (a + k === text.length) return -1;
      if (b + k === text.length) return 1;
      const d = text[a + k]! - text[b + k]!;
      if (d !== 0) return d;
    }
  });
}

describe('suffixArray', () => {
  it('sorts suffixes like a naive sort, for small and large alphabets', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 255 }),
        fc.array(fc.nat(255), { maxLength: 300 }),
        (alphabet, raw) => {
          const text = Uint8Array.from(raw, (v) => v % (alphabet + 1));
          expect([...suffixArray(text)]).toEqual(naive(text));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('handles runs and periodic text (deep recursion)', () => {
    for (const text of [
      new Uint8Array(1000),
      Uint8Array.from({ length: 999 }, (_, i) => [1, 2, 1][i % 3]!),
      Uint8Array.from({ length: 1024 }, (_, i) => (i * 7) & 3),
      Uint8Array.of(5),
      new Uint8Array(0),
    ]) {
      expect([...suffixArray(text)]).toEqual(naive(text));
    }
  });
});
