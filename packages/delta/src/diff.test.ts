import { BugError } from '@updraft/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyToBuffer } from './apply.js';
import { diff, diffDetailed } from './diff.js';
import { DeltaError } from './errors.js';
import { PATCH_HEADER_SIZE, parsePatchHeader } from './patch-header.js';
import { evolve, link, makeProgram, prng } from './testing/firmware-like.js';

async function roundTrip(
  oldImage: Uint8Array,
  newImage: Uint8Array,
  options = {},
): Promise<Uint8Array> {
  const patch = diff(oldImage, newImage, options);
  expect(await applyToBuffer(oldImage, patch)).toEqual(newImage);
  return patch;
}

/** Structured edits of an image: what firmware changes look like to a byte-level differ. */
const edit = fc.oneof(
  fc.record({
    op: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ maxLength: 64 }),
  }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.nat(64) }),
  fc.record({
    op: fc.constant('overwrite' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ maxLength: 16 }),
  }),
  fc.record({
    op: fc.constant('move' as const),
    from: fc.nat(),
    to: fc.nat(),
    length: fc.nat(300),
  }),
);
type Edit = typeof edit extends fc.Arbitrary<infer T> ? T : never;

function applyEdits(image: Uint8Array, edits: readonly Edit[]): Uint8Array {
  let b = [...image];
  for (const e of edits) {
    const at = (x: number) => (b.length === 0 ? 0 : x % (b.length + 1));
    if (e.op === 'insert') b.splice(at(e.at), 0, ...e.bytes);
    else if (e.op === 'delete') b.splice(at(e.at), e.length);
    else if (e.op === 'overwrite') b.splice(at(e.at), e.bytes.length, ...e.bytes);
    else {
      const block = b.splice(at(e.from), e.length);
      b.splice(at(e.to), 0, ...block);
    }
  }
  b = b.slice(0, 1 << 16);
  return Uint8Array.from(b);
}

const codeLike = fc
  .tuple(
    fc.array(fc.uint8Array({ minLength: 2, maxLength: 2 }), { minLength: 1, maxLength: 24 }),
    fc.nat(3000),
    fc.nat(),
  )
  .map(([vocab, length, seed]) => {
    const rnd = prng(seed);
    const out = new Uint8Array(length);
    for (let i = 0; i + 1 < length; i += 2) out.set(vocab[Math.floor(rnd() * vocab.length)]!, i);
    return out;
  });

describe('diff + apply', () => {
  it('round-trips random image pairs', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 2000 }),
        fc.uint8Array({ maxLength: 2000 }),
        async (a, b) => {
          await roundTrip(a, b);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('round-trips structured edits (insertions, deletions, overwrites, moved blocks) and keeps them small', async () => {
    await fc.assert(
      fc.asyncProperty(codeLike, fc.array(edit, { maxLength: 8 }), async (base, edits) => {
        const next = applyEdits(base, edits);
        const patch = await roundTrip(base, next);
        if (base.length > 2000 && edits.length <= 2)
          expect(patch.length).toBeLessThan(base.length / 4);
      }),
      { numRuns: 60 },
    );
  });

  it('round-trips relinked Thumb-2 firmware with every transform, window and kind', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(),
        fc.constantFrom('auto', 'none', 'thumb2'),
        fc.constantFrom('auto', 'delta', 'full'),
        fc.integer({ min: 10, max: 16 }),
        async (seed, transform, kind, windowLog) => {
          const program = makeProgram(40, seed);
          const oldImage = link(program);
          const newImage = link(evolve(program, seed + 7));
          const patch = await roundTrip(oldImage, newImage, { transform, kind, windowLog });
          const header = parsePatchHeader(patch);
          if (kind !== 'auto') expect(header.kind).toBe(kind);
          if (transform !== 'auto') expect(header.transform).toBe(transform);
          expect(header.windowLog).toBe(windowLog);
        },
      ),
      { numRuns: 30 },
    );
  });

  it('makes a much smaller patch than the compressed new image for a small firmware change', () => {
    const program = makeProgram(300, 11);
    const oldImage = link(program);
    const newImage = link(evolve(program, 12));
    const report = diffDetailed(oldImage, newImage);
    expect(report.kind).toBe('delta');
    const full = diffDetailed(oldImage, newImage, { kind: 'full' });
    expect(full.kind).toBe('full');
    expect(report.patch.length).toBeLessThan(full.patch.length / 5);
  });

  it('falls back to a full patch when the old image does not help', async () => {
    const rnd = prng(5);
    const oldImage = Uint8Array.from({ length: 4000 }, () => Math.floor(rnd() * 256));
    const newImage = new Uint8Array(4000).fill(7);
    const report = diffDetailed(oldImage, newImage);
    expect(report.kind).toBe('full');
    expect(parsePatchHeader(report.patch).oldSize).toBe(0);
    // A full patch does not need the old image at all.
    expect(await applyToBuffer(new Uint8Array(0), report.patch)).toEqual(newImage);
  });

  it('handles empty images', async () => {
    await roundTrip(new Uint8Array(0), new Uint8Array(0));
    await roundTrip(new Uint8Array(100).fill(1), new Uint8Array(0));
    await roundTrip(new Uint8Array(0), new Uint8Array(100).fill(1));
    expect(diff(new Uint8Array(0), new Uint8Array(0)).length).toBeGreaterThanOrEqual(
      PATCH_HEADER_SIZE,
    );
  });

  it('refuses work over its memory budget with a typed error', () => {
    const image = new Uint8Array(1 << 16);
    expect(() => diff(image, image, { maxMemoryBytes: 1000 })).toThrow(
      expect.objectContaining({ code: 'DELTA_BUDGET_EXCEEDED' }),
    );
    expect(() => diff(image, image, { maxMemoryBytes: 1000 })).toThrow(DeltaError);
  });
});

describe('diff options', () => {
  it('treats a windowLog outside 10..20 as a caller bug (BugError), not a typed input error', () => {
    const image = new Uint8Array(64);
    for (const windowLog of [9, 21, 16.5]) {
      expect(() => diff(image, image, { windowLog })).toThrow(BugError);
    }
  });
});
