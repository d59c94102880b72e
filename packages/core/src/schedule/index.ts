/** Maintenance-window schedules: a five-field cron evaluator with time zones. */
export { CronExpression, type WallClockFields } from './cron-expression.js';
export {
  MAX_WINDOW_DURATION_SECONDS,
  RecurringWindow,
  type RecurringWindowSpec,
  type WindowSpan,
} from './recurring-window.js';
