import { describe, expect, it } from 'vitest';
import { FixedWindowCounter } from './rate-limit.js';

describe('FixedWindowCounter', () => {
  it('counts per key within a window and starts over when the window turns', () => {
    let now = 10_500;
    const counter = new FixedWindowCounter(1_000, () => now);
    expect([counter.hit('a'), counter.hit('a'), counter.hit('b')]).toEqual([1, 2, 1]);
    expect(counter.peek('a')).toBe(2);
    expect(counter.retryAfterSeconds()).toBe(1); // window ends at 11,000
    now = 11_000;
    expect(counter.peek('a')).toBe(0);
    expect(counter.hit('a')).toBe(1);
  });

  it('bounds its memory: past maxKeys a new key goes uncounted, known keys still count', () => {
    const counter = new FixedWindowCounter(60_000, () => 0, 2);
    counter.hit('a');
    counter.hit('b');
    expect(counter.hit('c')).toBe(0);
    expect(counter.peek('c')).toBe(0);
    expect(counter.hit('a')).toBe(2);
  });
});
