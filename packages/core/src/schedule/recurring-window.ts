import { CoreError } from '../errors.js';
import { CronExpression } from './cron-expression.js';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
/** Longest window: a week (a longer one is better said with a one-shot window or none). */
export const MAX_WINDOW_DURATION_SECONDS = 7 * 24 * 3600;
/**
 * How far `nextOpening` searches. Eight years covers every expression that fires at all (29
 * February on a given weekday repeats within 28 years, but with the POSIX OR rule such a day
 * matches on either condition); an expression with no opening inside it is treated as never.
 */
const SEARCH_DAYS = 8 * 366;
// No zone's offset changes by more than this within a day, so a local time shifted by a DST rule
// lands at most this far from its wall-clock position.
const MAX_SHIFT = 3 * 60 * MINUTE;

/** A recurring maintenance window: the device API's wire shape. */
export interface RecurringWindowSpec {
  /** Five-field cron expression giving each window's start, in `timeZone`'s wall-clock time. */
  readonly cron: string;
  readonly durationSeconds: number;
  /** IANA time zone name (`Europe/Berlin`, `UTC`). */
  readonly timeZone: string;
}

/** One window, as instants (ms since the epoch); `end` is exclusive. */
export interface WindowSpan {
  readonly start: number;
  readonly end: number;
}

/**
 * Evaluates a recurring maintenance window: a window opens at every wall-clock minute the cron
 * expression names in the time zone, and stays open `durationSeconds`.
 *
 * Daylight-saving time (offsets come from `Intl.DateTimeFormat`):
 * - a start that falls in a gap (a wall time that does not exist, e.g. 02:30 when clocks jump
 *   from 02:00 to 03:00) opens as late as the gap is long (03:30 new time), so the window is not lost;
 * - a start that occurs twice (clocks go back) opens once, at its first occurrence.
 *
 * @example
 * const w = RecurringWindow.from({ cron: '0 2 * * *', durationSeconds: 7200, timeZone: 'Europe/Berlin' });
 * w.isOpen(Date.now());
 * w.nextOpening(Date.now()); // ms of the next 02:00 in Berlin
 */
export class RecurringWindow {
  private readonly format: Intl.DateTimeFormat;

  private constructor(
    readonly spec: RecurringWindowSpec,
    readonly expression: CronExpression,
  ) {
    this.format = new Intl.DateTimeFormat('en-US', {
      timeZone: spec.timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  }

  /**
   * Validates and compiles a window. Throws `CoreError` `SCHEDULE_CRON_INVALID` for a bad
   * expression or duration, `SCHEDULE_TIME_ZONE_INVALID` for a zone `Intl` does not know.
   */
  static from(spec: RecurringWindowSpec): RecurringWindow {
    const expression = CronExpression.parse(spec.cron);
    const d = spec.durationSeconds;
    if (!Number.isSafeInteger(d) || d < 60 || d > MAX_WINDOW_DURATION_SECONDS) {
      throw new CoreError(
        'SCHEDULE_CRON_INVALID',
        `a window lasts a whole number of seconds from 60 to ${MAX_WINDOW_DURATION_SECONDS}`,
      );
    }
    if (
      typeof spec.timeZone !== 'string' ||
      spec.timeZone.length === 0 ||
      spec.timeZone.length > 64
    ) {
      throw new CoreError('SCHEDULE_TIME_ZONE_INVALID', 'a time zone is an IANA name');
    }
    try {
      return new RecurringWindow(spec, expression);
    } catch (cause) {
      throw new CoreError('SCHEDULE_TIME_ZONE_INVALID', `unknown time zone "${spec.timeZone}"`, {
        cause,
      });
    }
  }

  /** The window open at instant `at`, or null. */
  windowAt(at: number): WindowSpan | null {
    const duration = this.spec.durationSeconds * 1000;
    // An opening o covers `at` when at - duration < o <= at; the first one after at - duration.
    const start = this.nextOpening(at - duration + 1);
    return start !== null && start <= at ? { start, end: start + duration } : null;
  }

  /** True when installing is allowed at instant `at`. */
  isOpen(at: number): boolean {
    return this.windowAt(at) !== null;
  }

  /**
   * The first window start at or after `from` (ms), or null when none opens within the bounded
   * search (eight years: such an expression never fires, like `0 0 31 2 *`).
   */
  nextOpening(from: number): number | null {
    const e = this.expression;
    // A wall time maps to an instant before `from` when it is before `from`'s own wall time, unless
    // a DST change lies near; only then must earlier wall times be resolved and compared.
    const offsetAtFrom = this.offset(from);
    const steady =
      this.offset(from - MAX_SHIFT) === offsetAtFrom &&
      this.offset(from + MAX_SHIFT) === offsetAtFrom;
    const skipBelow = from + offsetAtFrom - (steady ? 0 : MAX_SHIFT);
    // Start a day early: the local date at `from` can be up to a day behind UTC's.
    let day = Math.floor(from / DAY) * DAY - DAY;
    for (let i = 0; i < SEARCH_DAYS; i++, day += DAY) {
      const date = new Date(day);
      const fields = {
        month: date.getUTCMonth() + 1,
        dayOfMonth: date.getUTCDate(),
        dayOfWeek: date.getUTCDay(),
      };
      if (!e.matchesDay(fields)) continue;
      let best: number | null = null;
      let bestWall = 0;
      for (const h of e.hours) {
        for (const m of e.minutes) {
          const wall = day + h * 3_600_000 + m * MINUTE;
          if (best !== null && wall - bestWall > 2 * MAX_SHIFT) break;
          if (wall < skipBelow) continue;
          const { at, inGap } = this.instantOf(wall);
          if (at >= from && (best === null || at < best)) {
            // Instants grow with wall times except after a gap (a gap start is moved past the
            // wall times just after it): only a first hit in a gap needs the later ones checked.
            if (best === null && !inGap) return at;
            best = at;
            bestWall = wall;
          }
        }
      }
      if (best !== null) return best;
    }
    return null;
  }

  /** The zone's offset at `at` (wall clock minus UTC, ms). */
  private offset(at: number): number {
    const p: Record<string, number> = {};
    for (const part of this.format.formatToParts(at)) {
      if (part.type !== 'literal') p[part.type] = Number(part.value);
    }
    const wall = Date.UTC(
      p.year as number,
      (p.month as number) - 1,
      p.day as number,
      p.hour as number,
      p.minute as number,
      p.second as number,
    );
    return wall - Math.floor(at / 1000) * 1000;
  }

  /** The instant a local wall-clock time (as ms "as if UTC") opens at, per the DST rules above. */
  private instantOf(wall: number): { at: number; inGap: boolean } {
    const before = wall - this.offset(wall - DAY);
    const after = wall - this.offset(wall + DAY);
    const valid = (before === after ? [before] : [before, after]).filter(
      (t) => t + this.offset(t) === wall,
    );
    // Two valid instants: the wall time occurs twice (clocks went back), take the first.
    // None: it falls in a gap; the offset before the gap moves it forward by the gap's length.
    return valid.length > 0
      ? { at: Math.min(...valid), inGap: false }
      : { at: before, inGap: true };
  }
}
