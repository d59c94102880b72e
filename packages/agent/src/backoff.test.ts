import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fullJitterDelay } from './backoff.js';

describe('fullJitterDelay', () => {
  it('stays within [0, min(cap, base * 2^attempt))', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 3_600_000 }),
        fc.double({ min: 0, max: 0.999_999, noNaN: true }),
        (attempt, base, cap, r) => {
          const d = fullJitterDelay(attempt, base, cap, () => r);
          expect(d).toBeGreaterThanOrEqual(0);
          expect(d).toBeLessThan(Math.max(1, Math.min(cap, base * 2 ** Math.min(attempt, 30))));
        },
      ),
    );
  });

  it('spreads a fleet over the whole window instead of a single instant', () => {
    let seed = 1;
    const random = () => {
      seed = (seed * 48271) % 2147483647;
      return seed / 2147483647;
    };
    const delays = Array.from({ length: 10_000 }, () => fullJitterDelay(5, 1000, 60_000, random));
    const buckets = new Array(10).fill(0);
    for (const d of delays) buckets[Math.floor(d / 3200)] += 1;
    // 32 s window in 10 buckets: each holds about a tenth of the fleet.
    for (const count of buckets) expect(count).toBeGreaterThan(700);
  });
});
