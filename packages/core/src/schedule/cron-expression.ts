import { CoreError } from '../errors.js';

/** The five fields of a cron expression, in order, with their allowed ranges. */
const FIELDS = [
  { name: 'minute', min: 0, max: 59, names: [] as readonly string[] },
  { name: 'hour', min: 0, max: 23, names: [] as readonly string[] },
  { name: 'day-of-month', min: 1, max: 31, names: [] as readonly string[] },
  {
    name: 'month',
    min: 1,
    max: 12,
    names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'],
  },
  // 0 and 7 are both Sunday.
  { name: 'day-of-week', min: 0, max: 7, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] },
] as const;

type Field = (typeof FIELDS)[number];

/** Longest expression accepted (bounds the parser's work on hostile input). */
const MAX_LENGTH = 256;

/** Local wall-clock fields a cron expression is matched against. */
export interface WallClockFields {
  readonly minute: number;
  readonly hour: number;
  readonly dayOfMonth: number;
  /** 1–12. */
  readonly month: number;
  /** 0 (Sunday) – 6. */
  readonly dayOfWeek: number;
}

/**
 * A parsed five-field cron expression (`minute hour day-of-month month day-of-week`): lists
 * (`1,5`), ranges (`1-5`), steps (`*\/15`, `10-50/10`, `5/20` = from 5 to the end), `*`, and the
 * English three-letter names of months and days. Day-of-week 0 and 7 are Sunday.
 *
 * Day-of-month and day-of-week follow the POSIX rule: when both are restricted, a day matches if
 * either matches; when one is unrestricted, only the other counts. As in Vixie cron, a field that
 * begins with `*` (including `*\/2`) counts as unrestricted for this rule.
 *
 * @example
 * const e = CronExpression.parse('30 2 * * 1-5'); // 02:30 on weekdays
 * e.matches({ minute: 30, hour: 2, dayOfMonth: 3, month: 12, dayOfWeek: 4 }); // true
 */
export class CronExpression {
  private constructor(
    readonly source: string,
    /** Allowed values per field, sorted ascending (day-of-week folded to 0–6). */
    readonly minutes: readonly number[],
    readonly hours: readonly number[],
    private readonly days: ReadonlySet<number>,
    private readonly months: ReadonlySet<number>,
    private readonly weekdays: ReadonlySet<number>,
    private readonly dayOfMonthStar: boolean,
    private readonly dayOfWeekStar: boolean,
  ) {}

  /** Parses `source`; throws a `CoreError` `SCHEDULE_CRON_INVALID` naming the bad field. */
  static parse(source: string): CronExpression {
    if (typeof source !== 'string' || source.length > MAX_LENGTH) {
      throw invalid(`a cron expression is a string of at most ${MAX_LENGTH} characters`);
    }
    const parts = source.trim().split(/\s+/);
    if (parts.length !== 5) {
      throw invalid(
        `a cron expression has 5 fields (minute hour day-of-month month day-of-week), got ${parts.length}`,
      );
    }
    const sets = parts.map((part, i) => parseField(part, FIELDS[i] as Field));
    const weekdays = new Set([...(sets[4] as Set<number>)].map((d) => d % 7));
    return new CronExpression(
      source,
      sorted(sets[0] as Set<number>),
      sorted(sets[1] as Set<number>),
      sets[2] as Set<number>,
      sets[3] as Set<number>,
      weekdays,
      (parts[2] as string).startsWith('*'),
      (parts[4] as string).startsWith('*'),
    );
  }

  /** True when the day (month, day-of-month, day-of-week) matches, whatever the time. */
  matchesDay(f: Pick<WallClockFields, 'dayOfMonth' | 'month' | 'dayOfWeek'>): boolean {
    if (!this.months.has(f.month)) return false;
    const dom = this.days.has(f.dayOfMonth);
    const dow = this.weekdays.has(f.dayOfWeek);
    if (this.dayOfMonthStar || this.dayOfWeekStar) return dom && dow;
    return dom || dow;
  }

  /** True when the wall-clock minute `f` is one the expression names. */
  matches(f: WallClockFields): boolean {
    return this.minutes.includes(f.minute) && this.hours.includes(f.hour) && this.matchesDay(f);
  }
}

function parseField(text: string, field: Field): Set<number> {
  const out = new Set<number>();
  for (const item of text.split(',')) {
    const m = /^(\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:\/([0-9]+))?$/i.exec(item);
    if (!m) throw invalid(`${field.name}: cannot read "${item}"`);
    const [, range, stepText] = m as unknown as [string, string, string | undefined];
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isSafeInteger(step) || step < 1 || step > field.max + 1) {
      throw invalid(`${field.name}: step "${stepText}" is out of range`);
    }
    let lo: number;
    let hi: number;
    if (range === '*') {
      lo = field.min;
      hi = field.max;
    } else {
      const [a, b] = range.split('-') as [string, string | undefined];
      lo = value(a, field);
      // `5/20` (a start with a step) runs to the end of the range, as in Vixie cron.
      hi = b === undefined ? (stepText === undefined ? lo : field.max) : value(b, field);
      if (lo > hi) throw invalid(`${field.name}: range "${range}" runs backwards`);
    }
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

function value(token: string, field: Field): number {
  const named = (field.names as readonly string[]).indexOf(token.toLowerCase());
  const v =
    named >= 0
      ? named + (field.name === 'month' ? 1 : 0)
      : /^[0-9]{1,2}$/.test(token)
        ? Number(token)
        : Number.NaN;
  if (!(v >= field.min && v <= field.max)) {
    throw invalid(`${field.name}: "${token}" is not in ${field.min}-${field.max}`);
  }
  return v;
}

function sorted(set: Set<number>): number[] {
  return [...set].sort((a, b) => a - b);
}

function invalid(message: string): CoreError {
  return new CoreError('SCHEDULE_CRON_INVALID', `invalid cron expression: ${message}`);
}
