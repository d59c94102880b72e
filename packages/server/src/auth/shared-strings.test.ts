import { describe, expect, it } from 'vitest';
import { SharedStrings } from './shared-strings.js';

describe('SharedStrings', () => {
  it('answers every value with an equal string and stays within its bound', () => {
    const shared = new SharedStrings(3);
    for (let i = 0; i < 10; i++) {
      const value = `ten_${i % 5}`;
      // A fresh copy in, an equal string out (the first instance of it while remembered).
      expect(shared.of(value.slice())).toBe(value);
      expect(shared.size).toBeLessThanOrEqual(3);
    }
    expect(shared.size).toBeGreaterThan(0);
  });
});
