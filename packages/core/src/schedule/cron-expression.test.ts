import { describe, expect, it } from 'vitest';
import { CronExpression } from './cron-expression.js';

const at = (
  minute: number,
  hour: number,
  dayOfMonth: number,
  month: number,
  dayOfWeek: number,
) => ({
  minute,
  hour,
  dayOfMonth,
  month,
  dayOfWeek,
});

describe('CronExpression', () => {
  it('reads lists, ranges, steps and names', () => {
    const e = CronExpression.parse('0,30 8-18/2 * jan-mar mon-fri');
    expect(e.minutes).toEqual([0, 30]);
    expect(e.hours).toEqual([8, 10, 12, 14, 16, 18]);
    expect(e.matches(at(30, 10, 5, 2, 3))).toBe(true);
    expect(e.matches(at(30, 10, 5, 4, 3))).toBe(false); // April
    expect(e.matches(at(30, 10, 5, 2, 6))).toBe(false); // Saturday
    expect(e.matches(at(15, 10, 5, 2, 3))).toBe(false);
  });

  it('reads a start with a step as running to the end of the range', () => {
    expect(CronExpression.parse('5/20 * * * *').minutes).toEqual([5, 25, 45]);
    expect(CronExpression.parse('*/15 * * * *').minutes).toEqual([0, 15, 30, 45]);
  });

  it('treats day-of-week 7 as Sunday', () => {
    expect(CronExpression.parse('0 0 * * 7').matches(at(0, 0, 1, 1, 0))).toBe(true);
  });

  it('matches either day field when both are restricted (POSIX OR rule)', () => {
    const e = CronExpression.parse('0 0 13 * 5'); // the 13th, or any Friday
    expect(e.matches(at(0, 0, 13, 6, 2))).toBe(true);
    expect(e.matches(at(0, 0, 9, 6, 5))).toBe(true);
    expect(e.matches(at(0, 0, 9, 6, 2))).toBe(false);
  });

  it('matches both day fields when one begins with * (Vixie rule)', () => {
    const e = CronExpression.parse('0 0 */2 * 5'); // odd days that are Fridays
    expect(e.matches(at(0, 0, 9, 6, 5))).toBe(true);
    expect(e.matches(at(0, 0, 10, 6, 5))).toBe(false);
    expect(e.matches(at(0, 0, 9, 6, 2))).toBe(false);
  });

  it.each([
    ['', 'fields'],
    ['* * * *', 'fields'],
    ['* * * * * *', 'fields'],
    ['60 * * * *', 'minute'],
    ['* 24 * * *', 'hour'],
    ['* * 0 * *', 'day-of-month'],
    ['* * * 13 *', 'month'],
    ['* * * * 8', 'day-of-week'],
    ['5-1 * * * *', 'backwards'],
    ['*/0 * * * *', 'step'],
    ['a * * * *', 'minute'],
    ['1,,2 * * * *', 'minute'],
    ['-1 * * * *', 'minute'],
    ['x'.repeat(300), 'at most'],
  ])('refuses %j with SCHEDULE_CRON_INVALID naming the problem', (source, words) => {
    expect(() => CronExpression.parse(source)).toThrow(
      expect.objectContaining({
        code: 'SCHEDULE_CRON_INVALID',
        message: expect.stringContaining(words),
      }),
    );
  });
});
