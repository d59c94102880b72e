import { UpdraftError } from '@updraft/core';

/** Codes raised by `@updraft/delta`. Keep in sync with docs/errors.md (checked by a test). */
export const DELTA_ERROR_CODES = [
  'DELTA_BASE_MISMATCH',
  'DELTA_RESULT_MISMATCH',
  'DELTA_PATCH_MALFORMED',
  'DELTA_PATCH_TRUNCATED',
  'DELTA_PATCH_UNSUPPORTED',
  'DELTA_OLD_READ_FAILED',
  'DELTA_INPUT_TOO_LARGE',
  'DELTA_BUDGET_EXCEEDED',
] as const;
export type DeltaErrorCode = (typeof DELTA_ERROR_CODES)[number];

/** True when `value` is one of {@link DELTA_ERROR_CODES}. */
export function isDeltaErrorCode(value: unknown): value is DeltaErrorCode {
  return typeof value === 'string' && (DELTA_ERROR_CODES as readonly string[]).includes(value);
}

/** Error raised by `@updraft/delta`. */
export class DeltaError extends UpdraftError<DeltaErrorCode> {}

/** Shorthand for the most common failure: the patch bytes are not a valid patch. */
export function malformed(message: string, details?: Record<string, unknown>): DeltaError {
  return new DeltaError('DELTA_PATCH_MALFORMED', message, details ? { details } : {});
}
