import { describe, expect, it } from 'vitest';
import { parseDuration } from './parse-duration.js';

describe('parseDuration', () => {
  it.each([
    ['30s', 30],
    ['30m', 1800],
    ['2h', 7200],
    ['1d', 86_400],
    ['1h30m', 5400],
  ])('reads %s as %i seconds', (text, seconds) => {
    expect(parseDuration(text, 'window-duration')).toBe(seconds);
  });

  it.each(['', '30', 'm', '1.5h', '-1h', '2 h', '1w', 'h1'])(
    'refuses %j with CLI_USAGE',
    (text) => {
      expect(() => parseDuration(text, 'window-duration')).toThrow(
        expect.objectContaining({
          code: 'CLI_USAGE',
          message: expect.stringContaining('--window-duration'),
        }),
      );
    },
  );
});
