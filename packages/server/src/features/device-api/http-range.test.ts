import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseRange } from './http-range.js';

describe('parseRange', () => {
  it('reads an open-ended resume range', () => {
    expect(parseRange('bytes=100-', 1000)).toEqual({ start: 100, end: 999 });
  });
  it('reads a closed range and clamps its end to the size', () => {
    expect(parseRange('bytes=0-99', 1000)).toEqual({ start: 0, end: 99 });
    expect(parseRange('bytes=900-5000', 1000)).toEqual({ start: 900, end: 999 });
  });
  it('reads a suffix range', () => {
    expect(parseRange('bytes=-10', 1000)).toEqual({ start: 990, end: 999 });
    expect(parseRange('bytes=-5000', 1000)).toEqual({ start: 0, end: 999 });
  });
  it('answers unsatisfiable past the end or for an empty suffix', () => {
    expect(parseRange('bytes=1000-', 1000)).toBe('unsatisfiable');
    expect(parseRange('bytes=-0', 1000)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-', 0)).toBe('unsatisfiable');
    expect(parseRange('bytes=99999999999999999999-', 10)).toBe('unsatisfiable');
  });
  it('ignores bad syntax, other units and multiple ranges', () => {
    for (const h of [
      undefined,
      '',
      'bytes=',
      'bytes=-',
      'items=0-1',
      'bytes=5-1',
      'bytes=0-1,3-4',
      'bytes=a-b',
    ]) {
      expect(parseRange(h, 1000)).toBeNull();
    }
  });
  it('never returns a range outside the body, for any header', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc
            .tuple(fc.option(fc.nat()), fc.option(fc.nat()))
            .map(([a, b]) => `bytes=${a ?? ''}-${b ?? ''}`),
        ),
        fc.nat({ max: 1 << 30 }),
        (header, size) => {
          const r = parseRange(header, size);
          if (r !== null && r !== 'unsatisfiable') {
            expect(r.start).toBeGreaterThanOrEqual(0);
            expect(r.end).toBeGreaterThanOrEqual(r.start);
            expect(r.end).toBeLessThan(size);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
