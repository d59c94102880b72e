import { BugError } from '@updraft/core';
import { describe, expect, it } from 'vitest';
import { isPowerCut, PowerCut } from './errors.js';
import { SimFlash } from './sim-flash.js';

const bytes = (n: number, v: number) => new Uint8Array(n).fill(v);

describe('SimFlash rules (stricter than hardware)', () => {
  it('starts erased and lays out non-uniform sectors in order', () => {
    const f = new SimFlash({ sectorSizes: [16, 16, 64, 128] });
    expect(f.size).toBe(224);
    expect(f.sectors.map((s) => s.offset)).toEqual([0, 16, 32, 96]);
    expect(f.sectorAt(100)).toEqual({ index: 3, offset: 96, size: 128 });
    expect(f.isErased(0, 224)).toBe(true);
    expect(f.read(0, 4)).toEqual(bytes(4, 0xff));
  });

  it('throws BugError on a write to unerased memory', () => {
    const f = new SimFlash({ sectorSizes: [64] });
    f.write(0, bytes(8, 0x12));
    expect(() => f.write(0, bytes(8, 0x00))).toThrow(BugError);
    f.eraseSector(0);
    f.write(0, bytes(8, 0x00));
    expect(f.read(0, 8)).toEqual(bytes(8, 0));
  });

  it.each([4, 8, 16] as const)('throws BugError on writes misaligned to %i bytes', (align) => {
    const f = new SimFlash({ sectorSizes: [64], writeAlign: align });
    expect(() => f.write(align / 2, bytes(align, 0))).toThrow(BugError);
    expect(() => f.write(0, bytes(align + 1, 0))).toThrow(BugError);
    f.write(align, bytes(align, 0));
    expect(f.counters.writes).toBe(1);
  });

  it('throws BugError out of range and on erase at a non-sector start', () => {
    const f = new SimFlash({ sectorSizes: [32, 32] });
    expect(() => f.read(60, 8)).toThrow(BugError);
    expect(() => f.write(64, bytes(8, 0))).toThrow(BugError);
    expect(() => f.eraseSector(8)).toThrow(BugError);
    expect(() => f.eraseRange(0, 40)).toThrow(BugError);
  });

  it('models 0x00-erased parts: programming sets bits', () => {
    const f = new SimFlash({ sectorSizes: [32], erasedValue: 0x00 });
    expect(f.read(0, 8)).toEqual(bytes(8, 0));
    f.write(0, bytes(8, 0xa5));
    expect(f.read(0, 8)).toEqual(bytes(8, 0xa5));
    expect(() => f.write(0, bytes(8, 0xff))).toThrow(BugError);
  });

  it('counts reads, writes, erases and ops', () => {
    const f = new SimFlash({ sectorSizes: [32, 32] });
    f.write(0, bytes(16, 1));
    f.read(0, 16);
    f.eraseRange(0, 64);
    expect(f.counters).toMatchObject({ reads: 1, writes: 1, erases: 2, ops: 3, bytesWritten: 16 });
  });

  it('refuses writes and erases into a protected range', () => {
    const f = new SimFlash({ sectorSizes: [32, 32] });
    f.protectRange({ offset: 32, length: 32 });
    expect(() => f.write(32, bytes(8, 0))).toThrow(BugError);
    expect(() => f.eraseSector(32)).toThrow(BugError);
  });
});

describe('SimFlash fault injection', () => {
  it('cut before an op: nothing changes, PowerCut, and flash stays dead until powerOn', () => {
    const f = new SimFlash({ sectorSizes: [64] });
    f.planCuts([{ opIndex: 1, mode: 'before' }]);
    f.write(0, bytes(8, 1));
    expect(() => f.write(8, bytes(8, 2))).toThrow(PowerCut);
    expect(f.isPowered).toBe(false);
    expect(() => f.read(0, 8)).toThrow(PowerCut);
    f.powerOn();
    expect(f.read(8, 8)).toEqual(bytes(8, 0xff));
    expect(f.read(0, 8)).toEqual(bytes(8, 1));
  });

  it('cut after an op: the op completed', () => {
    const f = new SimFlash({ sectorSizes: [64] });
    f.planCuts([{ opIndex: 0, mode: 'after' }]);
    let caught: unknown;
    try {
      f.write(0, bytes(16, 3));
    } catch (e) {
      caught = e;
    }
    expect(isPowerCut(caught)).toBe(true);
    expect((caught as PowerCut).opIndex).toBe(0);
    f.powerOn();
    expect(f.read(0, 16)).toEqual(bytes(16, 3));
  });

  it('torn write: programmed prefix, one noisy word, untouched rest', () => {
    const f = new SimFlash({ sectorSizes: [256], writeAlign: 8 }, { seed: 42 });
    f.planCuts([{ opIndex: 0, mode: 'torn' }]);
    expect(() => f.write(0, bytes(128, 0x00))).toThrow(PowerCut);
    f.powerOn();
    const cells = f.read(0, 128);
    const words = Array.from({ length: 16 }, (_, i) => cells.subarray(i * 8, i * 8 + 8));
    const firstNot = words.findIndex((w) => !w.every((b) => b === 0));
    expect(firstNot).toBeGreaterThanOrEqual(0);
    for (const w of words.slice(firstNot + 1)) expect(w).toEqual(bytes(8, 0xff));
  });

  it('torn erase leaves a mix of old, erased and random words', () => {
    const f = new SimFlash({ sectorSizes: [512] }, { seed: 3 });
    f.write(0, bytes(512, 0x00));
    f.planCuts([{ opIndex: 1, mode: 'torn' }]);
    expect(() => f.eraseSector(0)).toThrow(PowerCut);
    f.powerOn();
    const cells = f.read(0, 512);
    const words = Array.from({ length: 64 }, (_, i) => cells.subarray(i * 8, i * 8 + 8));
    expect(words.some((w) => w.every((b) => b === 0))).toBe(true);
    expect(words.some((w) => w.every((b) => b === 0xff))).toBe(true);
    expect(words.some((w) => !w.every((b) => b === 0) && !w.every((b) => b === 0xff))).toBe(true);
  });

  it('replays the same torn bits from the same seed', () => {
    const run = () => {
      const f = new SimFlash({ sectorSizes: [256] }, { seed: 9 });
      f.planCuts([{ opIndex: 0, mode: 'torn' }]);
      expect(() => f.write(0, bytes(256, 0))).toThrow(PowerCut);
      return f.snapshot();
    };
    expect(run()).toEqual(run());
  });

  it('bad regions silently drop writes', () => {
    const f = new SimFlash({ sectorSizes: [64] });
    f.setBadRegions([{ offset: 16, length: 8 }]);
    f.write(16, bytes(8, 0x11));
    f.write(0, bytes(8, 0x22));
    expect(f.read(16, 8)).toEqual(bytes(8, 0xff));
    expect(f.read(0, 8)).toEqual(bytes(8, 0x22));
    expect(f.counters.writes).toBe(2);
  });

  it('flips stored bits on request', () => {
    const f = new SimFlash({ sectorSizes: [64] }, { seed: 5 });
    f.write(0, bytes(64, 0));
    f.flipBit(3, 2);
    expect(f.read(3, 1)[0]).toBe(4);
    const flipped = f.flipRandomBits(8, 8, 1);
    expect(flipped[0]).toBeGreaterThanOrEqual(8);
    expect(f.read(8, 8).some((b) => b !== 0)).toBe(true);
  });
});
