import { BugError } from '@updraft/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Slot, SlotSector } from '../ports/slot.js';
import { SlotWriter, sectorFloor } from './slot-writer.js';

// A strict NOR-like slot with non-uniform sectors (4 × 1 KiB, then 4 KiB ones).
function norSlot(): Slot & { data: Uint8Array; erased: boolean[]; writes: number } {
  const sizes = [1024, 1024, 1024, 1024, 4096, 4096, 4096];
  const sectors: SlotSector[] = [];
  let offset = 0;
  for (const size of sizes) {
    sectors.push({ offset, size });
    offset += size;
  }
  const align = 16;
  const data = new Uint8Array(offset).fill(0xff);
  const erased = new Array(offset / align).fill(true);
  return {
    name: 'nor',
    size: offset,
    writeAlign: align,
    erasedValue: 0xff,
    sectors,
    data,
    erased,
    writes: 0,
    async read(at, length) {
      return data.slice(at, at + length);
    },
    async erase(at, length) {
      const s = sectors.find((x) => x.offset === at);
      if (!s || !sectors.some((x) => x.offset + x.size === at + length))
        throw new BugError('erase');
      data.fill(0xff, at, at + length);
      for (let w = at / align; w < (at + length) / align; w++) erased[w] = true;
    },
    async write(at, bytes) {
      if (at % align || bytes.length % align) throw new BugError('unaligned');
      for (let w = at / align; w < (at + bytes.length) / align; w++) {
        if (!erased[w]) throw new BugError('not erased');
        erased[w] = false;
      }
      data.set(bytes, at);
      this.writes += 1;
    },
  };
}

describe('SlotWriter', () => {
  it('writes any image in any chunking to non-uniform, erase-before-write flash', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 1, maxLength: 16_000 }),
        fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 20 }),
        async (image, cuts) => {
          const slot = norSlot();
          const checkpoints: number[] = [];
          const writer = new SlotWriter(slot, 0, async (end) => {
            checkpoints.push(end);
          });
          let at = 0;
          for (const n of cuts) {
            if (at >= image.length) break;
            await writer.push(image.subarray(at, at + n));
            at += n;
          }
          if (at < image.length) await writer.push(image.subarray(at));
          await writer.finish();
          expect(slot.data.subarray(0, image.length)).toEqual(image);
          // Checkpoints are the ends of the full sectors, in order.
          const ends = slot.sectors.map((s) => s.offset + s.size).filter((e) => e <= image.length);
          expect(checkpoints).toEqual(ends);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('resumes at a sector boundary and rewrites that sector', async () => {
    const slot = norSlot();
    const image = new Uint8Array(9000).map((_, i) => (i * 7) & 0xff);
    const first = new SlotWriter(slot, 0, async () => {});
    await first.push(image.subarray(0, 5000)); // cut: 4096 bytes durable, the rest lost
    const resumeAt = sectorFloor(slot, 5000);
    expect(resumeAt).toBe(4096);
    const second = new SlotWriter(slot, resumeAt, async () => {});
    await second.push(image.subarray(resumeAt));
    await second.finish();
    expect(slot.data.subarray(0, image.length)).toEqual(image);
  });

  it('refuses to start off a sector boundary', () => {
    expect(() => new SlotWriter(norSlot(), 100, async () => {})).toThrow(BugError);
  });
});
