import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { putBl } from './testing/firmware-like.js';
import { Thumb2Inverse, thumb2Forward, thumb2ForwardRange } from './thumb2-transform.js';

function inverseInChunks(t: Uint8Array, chunk: number): Uint8Array {
  const inv = new Thumb2Inverse();
  const out: number[] = [];
  let buf = new Uint8Array(0);
  let base = 0;
  for (let at = 0; at < t.length || buf.length > 0; at += chunk) {
    const piece = t.subarray(at, at + chunk);
    const joined = new Uint8Array(buf.length + piece.length);
    joined.set(buf);
    joined.set(piece, buf.length);
    const atEnd = at + chunk >= t.length;
    const final = inv.restore(joined, base, joined.length, atEnd);
    out.push(...joined.subarray(0, final));
    buf = joined.slice(final);
    base += final;
    if (atEnd) break;
  }
  return Uint8Array.from(out);
}

// Bytes rich in BL/B.W look-alikes, including overlapping candidates.
const thumbish = fc
  .array(fc.constantFrom(0xf0, 0xf7, 0xf8, 0xff, 0xd0, 0x90, 0xb0, 0x00, 0x12, 0xf4), {
    maxLength: 200,
  })
  .map((a) => Uint8Array.from(a));

describe('Thumb-2 transform', () => {
  it('is undone exactly by the streaming inverse, whatever the chunking', () => {
    fc.assert(
      fc.property(
        fc.oneof(thumbish, fc.uint8Array({ maxLength: 200 })),
        fc.integer({ min: 1, max: 17 }),
        (img, chunk) => {
          expect(inverseInChunks(thumb2Forward(img), chunk)).toEqual(img);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('transforms any range alone exactly as it transforms the whole image', () => {
    fc.assert(
      fc.property(thumbish, fc.nat(), fc.nat(), (img, a, b) => {
        const whole = thumb2Forward(img);
        const start = img.length ? a % img.length : 0;
        const end = start + (img.length - start ? b % (img.length - start + 1) : 0);
        const base = Math.max(0, start - 8);
        const src = img.slice(base, Math.min(img.length, end + 8));
        const dst = new Uint8Array(src.length);
        thumb2ForwardRange(src, dst, base, start, end, img.length);
        expect(dst.subarray(start - base, end - base)).toEqual(whole.subarray(start, end));
      }),
      { numRuns: 500 },
    );
  });

  it('makes calls to the same function identical wherever they sit', () => {
    const img = new Uint8Array(64);
    putBl(img, 8, 0x1000);
    putBl(img, 40, 0x1000);
    const t = thumb2Forward(img);
    expect(img.subarray(8, 12)).not.toEqual(img.subarray(40, 44));
    expect(t.subarray(8, 12)).toEqual(t.subarray(40, 44));
  });
});
