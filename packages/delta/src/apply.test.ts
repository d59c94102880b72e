import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ApplyStats,
  apply,
  applyMemoryBytes,
  applyToBuffer,
  OUTPUT_CHUNK_SIZE,
} from './apply.js';
import { diff } from './diff.js';
import { DeltaError } from './errors.js';
import { encodePatchHeader, PATCH_FORMAT_VERSION, PATCH_HEADER_SIZE } from './patch-header.js';
import { evolve, link, makeProgram, prng } from './testing/firmware-like.js';

const program = makeProgram(60, 3);
const oldImage = link(program);
const newImage = link(evolve(program, 4));
const patch = diff(oldImage, newImage, { transform: 'thumb2' });
// A smaller pair for the fuzz: a mutated body is decoded to its end before the checksum says no.
const fuzzProgram = makeProgram(12, 8);
const fuzzOld = link(fuzzProgram);
const fuzzNew = link(evolve(fuzzProgram, 9));
const fuzzPatch = diff(fuzzOld, fuzzNew, { transform: 'thumb2', kind: 'delta' });

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return undefined;
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const c of it) out.push(c);
  return out;
}

const readFrom = (image: Uint8Array) => async (offset: number, n: number) =>
  image.slice(offset, offset + n);

describe('apply', () => {
  it('produces the new image from a patch fed in arbitrary chunks', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 997 }), async (size) => {
        const chunks: Uint8Array[] = [];
        for (let at = 0; at < patch.length; at += size) chunks.push(patch.slice(at, at + size));
        const parts = await collect(apply(readFrom(oldImage), chunks));
        expect(Buffer.concat(parts)).toEqual(Buffer.from(newImage));
      }),
      { numRuns: 25 },
    );
  });

  it('can hand out views of one buffer (no allocation per chunk) that are valid until the next chunk', async () => {
    const big = makeProgram(400, 31);
    const oldBig = link(big);
    const newBig = link(evolve(big, 32));
    const bigPatch = diff(oldBig, newBig, { transform: 'thumb2', kind: 'delta' });
    const buffers = new Set<ArrayBufferLike>();
    const copies: Uint8Array[] = [];
    for await (const c of apply(readFrom(oldBig), [bigPatch], { reuseOutput: true })) {
      buffers.add(c.buffer);
      copies.push(c.slice());
    }
    expect(copies.length).toBeGreaterThan(2);
    expect(buffers.size).toBe(2); // the shared buffer, and the last chunk (a copy, held back)
    expect(Buffer.concat(copies)).toEqual(Buffer.from(newBig));
  });

  it('refuses a wrong base before producing any output', async () => {
    const wrong = oldImage.slice();
    wrong[100]! ^= 1;
    let produced = 0;
    const error = await errorOf(
      (async () => {
        for await (const c of apply(readFrom(wrong), [patch])) produced += c.length;
      })(),
    );
    expect(error).toBeInstanceOf(DeltaError);
    expect((error as DeltaError).code).toBe('DELTA_BASE_MISMATCH');
    expect(produced).toBe(0);
    const shorter = await errorOf(applyToBuffer(oldImage.subarray(0, oldImage.length - 1), patch));
    expect((shorter as DeltaError).code).toBe('DELTA_OLD_READ_FAILED');
  });

  it('rejects truncated patches with DELTA_PATCH_TRUNCATED', async () => {
    for (const cut of [
      0,
      10,
      PATCH_HEADER_SIZE - 1,
      PATCH_HEADER_SIZE,
      PATCH_HEADER_SIZE + 7,
      patch.length - 1,
    ]) {
      const error = await errorOf(applyToBuffer(oldImage, patch.subarray(0, cut)));
      expect((error as DeltaError).code, `cut at ${cut}`).toBe('DELTA_PATCH_TRUNCATED');
    }
  });

  it('rejects trailing bytes, a bad magic, an unknown version and a flipped header bit', async () => {
    const trailing = Buffer.concat([patch, Uint8Array.of(0)]);
    expect(((await errorOf(applyToBuffer(oldImage, trailing))) as DeltaError).code).toBe(
      'DELTA_PATCH_MALFORMED',
    );
    const magic = patch.slice();
    magic[0] = 0x50;
    expect(((await errorOf(applyToBuffer(oldImage, magic))) as DeltaError).code).toBe(
      'DELTA_PATCH_MALFORMED',
    );
    const version = patch.slice();
    version[4] = 9;
    expect(((await errorOf(applyToBuffer(oldImage, version))) as DeltaError).code).toBe(
      'DELTA_PATCH_UNSUPPORTED',
    );
    const size = patch.slice();
    size[13]! ^= 4;
    expect(((await errorOf(applyToBuffer(oldImage, size))) as DeltaError).code).toBe(
      'DELTA_PATCH_MALFORMED',
    );
  });

  it('never yields a complete wrong image and throws only typed errors for mutated patches', async () => {
    let rejected = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ at: fc.nat(), value: fc.nat(255) }), { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        async (mutations, bodyOnly) => {
          const bad = fuzzPatch.slice();
          for (const m of mutations) {
            const at = bodyOnly
              ? PATCH_HEADER_SIZE + (m.at % (bad.length - PATCH_HEADER_SIZE))
              : m.at % bad.length;
            bad[at] = m.value;
          }
          const same = bad.every((b, i) => b === fuzzPatch[i]);
          try {
            const out = await applyToBuffer(fuzzOld, bad);
            expect(out).toEqual(fuzzNew);
          } catch (error) {
            expect(error).toBeInstanceOf(DeltaError);
            expect(same).toBe(false);
            rejected++;
          }
        },
      ),
      { numRuns: 3000 },
    );
    expect(rejected).toBeGreaterThan(2500);
  });

  it('throws only typed errors for arbitrary bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (junk) => {
        const error = await errorOf(applyToBuffer(oldImage, junk));
        expect(error).toBeInstanceOf(DeltaError);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses a new image larger than the caller allows before reading the old image', async () => {
    let reads = 0;
    const error = await errorOf(
      collect(
        apply(
          async (o, n) => {
            reads++;
            return oldImage.slice(o, o + n);
          },
          [patch],
          { maxNewSize: newImage.length - 1 },
        ),
      ),
    );
    expect((error as DeltaError).code).toBe('DELTA_INPUT_TOO_LARGE');
    expect(reads).toBe(0);
  });

  it('stops at once when a body is too short for the image it claims (no decoding of garbage)', async () => {
    const body = new Uint8Array(5);
    const header = encodePatchHeader({
      version: PATCH_FORMAT_VERSION,
      kind: 'full',
      transform: 'none',
      windowLog: 16,
      oldSize: 0,
      newSize: 64 << 20,
      bodyLength: body.length,
      bodyCrc32: crc32(body),
      oldSha256: new Uint8Array(32),
      newSha256: new Uint8Array(32),
    });
    let produced = 0;
    const error = await errorOf(
      (async () => {
        for await (const c of apply(readFrom(oldImage), [header, body])) produced += c.length;
      })(),
    );
    expect((error as DeltaError).code).toBe('DELTA_PATCH_MALFORMED');
    expect(produced).toBeLessThan(1 << 16);
  });

  it('wraps a failing old-image reader in DELTA_OLD_READ_FAILED', async () => {
    const error = await errorOf(
      collect(
        apply(async () => {
          throw new Error('flash read error');
        }, [patch]),
      ),
    );
    expect((error as DeltaError).code).toBe('DELTA_OLD_READ_FAILED');
    expect((error as DeltaError).cause).toBeInstanceOf(Error);
  });

  it('restarts from the beginning after an interruption (power cut) and closes the patch source', async () => {
    const big = makeProgram(400, 21);
    const oldBig = link(big);
    const newBig = link(evolve(big, 22));
    const bigPatch = diff(oldBig, newBig, { kind: 'delta' });
    const slot = new Uint8Array(newBig.length);
    let closed = 0;
    async function* source(): AsyncGenerator<Uint8Array> {
      try {
        for (let at = 0; at < bigPatch.length; at += 100) yield bigPatch.slice(at, at + 100);
      } finally {
        closed++;
      }
    }
    // First attempt: power fails after the first chunk has been written to the slot.
    let written = 0;
    for await (const chunk of apply(readFrom(oldBig), source())) {
      slot.set(chunk, written);
      written += chunk.length;
      break;
    }
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThan(newBig.length);
    expect(closed).toBe(1);
    // The old image was only read, so the same apply simply runs again over the half-written slot.
    written = 0;
    for await (const chunk of apply(readFrom(oldBig), source())) {
      slot.set(chunk, written);
      written += chunk.length;
    }
    expect(written).toBe(newBig.length);
    expect(slot).toEqual(newBig);
    expect(closed).toBe(2);
  });

  it('uses the same bounded buffers for a 64 KiB and a 1 MiB image', async () => {
    const run = async (size: number) => {
      const rnd = prng(size);
      const a = Uint8Array.from({ length: size }, () =>
        rnd() < 0.7 ? 0 : Math.floor(rnd() * 256),
      );
      const b = a.slice();
      for (let i = 0; i < 50; i++) b[Math.floor(rnd() * size)] = 0x55;
      const p = diff(a, b, { transform: 'none', kind: 'delta' });
      const stats: ApplyStats = { allocatedBytes: 0, largestOldRead: 0 };
      let largestChunk = 0;
      let total = 0;
      for await (const c of apply(readFrom(a), [p], { stats })) {
        largestChunk = Math.max(largestChunk, c.length);
        total += c.length;
      }
      expect(total).toBe(size);
      return { ...stats, largestChunk };
    };
    const small = await run(1 << 16);
    const large = await run(1 << 20);
    expect(large).toEqual(small);
    expect(large.allocatedBytes).toBe(applyMemoryBytes(12));
    expect(large.largestChunk).toBeLessThanOrEqual(OUTPUT_CHUNK_SIZE);
    expect(large.largestOldRead).toBeLessThanOrEqual(16384);
  });
});
