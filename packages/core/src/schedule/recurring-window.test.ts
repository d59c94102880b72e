import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecurringWindow } from './recurring-window.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

describe('RecurringWindow', () => {
  it('finds the next opening and answers whether a window is open (UTC)', () => {
    const w = RecurringWindow.from({ cron: '0 2 * * *', durationSeconds: 7200, timeZone: 'UTC' });
    const t = Date.parse('2026-03-10T12:00:00Z');
    expect(iso(w.nextOpening(t))).toBe('2026-03-11T02:00:00.000Z');
    expect(w.isOpen(t)).toBe(false);
    expect(w.isOpen(Date.parse('2026-03-11T02:00:00Z'))).toBe(true);
    expect(w.isOpen(Date.parse('2026-03-11T03:59:59.999Z'))).toBe(true);
    expect(w.isOpen(Date.parse('2026-03-11T04:00:00Z'))).toBe(false);
    expect(w.windowAt(Date.parse('2026-03-11T03:00:00Z'))).toEqual({
      start: Date.parse('2026-03-11T02:00:00Z'),
      end: Date.parse('2026-03-11T04:00:00Z'),
    });
  });

  it('opens at the wall-clock time of its zone, across a DST change', () => {
    const w = RecurringWindow.from({
      cron: '0 2 * * *',
      durationSeconds: 3600,
      timeZone: 'Europe/Berlin',
    });
    // Winter: UTC+1; summer: UTC+2.
    expect(iso(w.nextOpening(Date.parse('2026-01-15T00:00:00Z')))).toBe('2026-01-15T01:00:00.000Z');
    expect(iso(w.nextOpening(Date.parse('2026-07-15T00:00:00Z')))).toBe('2026-07-15T00:00:00.000Z');
  });

  it('moves a start that falls in a DST gap forward by the gap (02:30 → 03:30)', () => {
    // New York springs forward on 2026-03-08: 02:00 EST becomes 03:00 EDT.
    const w = RecurringWindow.from({
      cron: '30 2 * * *',
      durationSeconds: 1800,
      timeZone: 'America/New_York',
    });
    expect(iso(w.nextOpening(Date.parse('2026-03-08T00:00:00Z')))).toBe('2026-03-08T07:30:00.000Z'); // 03:30 EDT
    expect(iso(w.nextOpening(Date.parse('2026-03-08T08:00:00Z')))).toBe('2026-03-09T06:30:00.000Z'); // 02:30 EDT
  });

  it('opens a start that occurs twice (clocks go back) once, at its first occurrence', () => {
    // New York falls back on 2026-11-01: 01:30 happens at 05:30Z (EDT) and 06:30Z (EST).
    const w = RecurringWindow.from({
      cron: '30 1 * * *',
      durationSeconds: 600,
      timeZone: 'America/New_York',
    });
    const first = w.nextOpening(Date.parse('2026-11-01T00:00:00Z'));
    expect(iso(first)).toBe('2026-11-01T05:30:00.000Z');
    expect(iso(w.nextOpening((first as number) + 1))).toBe('2026-11-02T06:30:00.000Z');
  });

  it('finds a leap day years away and answers null for an expression that never fires', () => {
    const leap = RecurringWindow.from({ cron: '0 0 29 2 *', durationSeconds: 60, timeZone: 'UTC' });
    expect(iso(leap.nextOpening(Date.parse('2026-03-01T00:00:00Z')))).toBe(
      '2028-02-29T00:00:00.000Z',
    );
    const never = RecurringWindow.from({
      cron: '0 0 31 2 *',
      durationSeconds: 60,
      timeZone: 'UTC',
    });
    expect(never.nextOpening(Date.parse('2026-03-01T00:00:00Z'))).toBeNull();
    expect(never.isOpen(Date.parse('2026-03-01T00:00:00Z'))).toBe(false);
  });

  it('refuses an unknown zone with SCHEDULE_TIME_ZONE_INVALID and a bad duration with SCHEDULE_CRON_INVALID', () => {
    expect(() =>
      RecurringWindow.from({ cron: '* * * * *', durationSeconds: 60, timeZone: 'Mars/Olympus' }),
    ).toThrow(expect.objectContaining({ code: 'SCHEDULE_TIME_ZONE_INVALID' }));
    for (const d of [0, 59, 1.5, 8 * 24 * 3600, Number.NaN]) {
      expect(() =>
        RecurringWindow.from({ cron: '* * * * *', durationSeconds: d, timeZone: 'UTC' }),
      ).toThrow(expect.objectContaining({ code: 'SCHEDULE_CRON_INVALID' }));
    }
  });
});

// Properties against an independent oracle: walk minute by minute in a fixed-offset zone (no DST,
// so the wall clock is the instant plus a constant) and match the fields by hand.
const ZONES = [
  { timeZone: 'UTC', offset: 0 },
  { timeZone: 'Asia/Kolkata', offset: 5.5 * HOUR },
  { timeZone: 'Etc/GMT+7', offset: -7 * HOUR },
] as const;
type CaseOf<A> = A extends fc.Arbitrary<infer T> ? T : never;
const HORIZON_MIN = 3 * 24 * 60;

function fieldArb(
  min: number,
  max: number,
): fc.Arbitrary<{ text: string; has: (v: number) => boolean; star: boolean }> {
  return fc.oneof(
    fc.constant({ text: '*', has: () => true, star: true }),
    fc.integer({ min: 1, max: Math.max(1, Math.floor((max - min) / 2)) }).map((s) => ({
      text: `*/${s}`,
      has: (v: number) => (v - min) % s === 0,
      star: true,
    })),
    fc.uniqueArray(fc.integer({ min, max }), { minLength: 1, maxLength: 4 }).map((vs) => ({
      text: vs.join(','),
      has: (v: number) => vs.includes(v),
      star: false,
    })),
    fc
      .tuple(fc.integer({ min, max }), fc.integer({ min, max }), fc.integer({ min: 1, max: 5 }))
      .map(([a, b, s]) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        return {
          text: `${lo}-${hi}/${s}`,
          has: (v: number) => v >= lo && v <= hi && (v - lo) % s === 0,
          star: false,
        };
      }),
  );
}

const caseArb = fc.record({
  minute: fieldArb(0, 59),
  hour: fieldArb(0, 23),
  dom: fieldArb(1, 31),
  month: fc.constant({ text: '*', has: () => true, star: true }),
  dow: fieldArb(0, 6),
  durationMin: fc.integer({ min: 1, max: 180 }),
  zone: fc.constantFrom(...ZONES),
  // Whole minutes between 2024 and 2030.
  startMin: fc.integer({ min: 28_401_120, max: 31_556_160 }),
});

function oracleOpens(c: CaseOf<typeof caseArb>, ms: number): boolean {
  const d = new Date(ms + c.zone.offset);
  const dom = c.dom.has(d.getUTCDate());
  const dow = c.dow.has(d.getUTCDay());
  const day = c.dom.star || c.dow.star ? dom && dow : dom || dow;
  return c.minute.has(d.getUTCMinutes()) && c.hour.has(d.getUTCHours()) && day;
}

function windowOf(c: CaseOf<typeof caseArb>): RecurringWindow {
  const cron = [c.minute, c.hour, c.dom, c.month, c.dow].map((f) => f.text).join(' ');
  return RecurringWindow.from({
    cron,
    durationSeconds: c.durationMin * 60,
    timeZone: c.zone.timeZone,
  });
}

describe('RecurringWindow properties (fixed-offset zones, minute by minute)', () => {
  it('the next opening is the first minute the oracle opens, and the window is open there', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const w = windowOf(c);
        const now = c.startMin * MIN;
        const next = w.nextOpening(now);
        let expected: number | null = null;
        for (let i = 0; i < HORIZON_MIN; i++) {
          if (oracleOpens(c, now + i * MIN)) {
            expected = now + i * MIN;
            break;
          }
        }
        if (expected === null) {
          expect(next === null || next >= now + HORIZON_MIN * MIN).toBe(true);
        } else {
          expect(next).toBe(expected);
          expect(w.isOpen(expected)).toBe(true);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('isOpen agrees with the oracle at every minute of the horizon (nothing inside a window is skipped)', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const w = windowOf(c);
        const now = c.startMin * MIN;
        const horizon = 24 * 60;
        // opens[i]: the oracle opens at minute i - durationMin (so earlier windows are counted).
        const opens: boolean[] = [];
        for (let i = 0; i < horizon + c.durationMin; i++) {
          opens.push(oracleOpens(c, now + (i - c.durationMin) * MIN));
        }
        let lastOpen = -Infinity;
        for (let i = 0; i < horizon + c.durationMin; i++) {
          if (opens[i]) lastOpen = i;
          if (i < c.durationMin) continue;
          const expectOpen = i - lastOpen < c.durationMin;
          const t = now + (i - c.durationMin) * MIN;
          if (w.isOpen(t) !== expectOpen) return false;
          // Between now and the next opening, no minute is open that the agent would skip.
          if (!expectOpen) {
            const next = w.nextOpening(t);
            if (next !== null && next < t) return false;
          }
        }
        return true;
      }),
      { numRuns: 40 },
    );
  });
});
