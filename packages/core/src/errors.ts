/**
 * Typed errors shared by every Updraft package.
 *
 * Each package declares its own closed set of codes (`as const` array + derived union) and an
 * error class extending {@link UpdraftError}. Every code is listed in docs/errors.md; a test at
 * test/errors-doc.test.ts checks the two against each other in both directions.
 */

/** Base of every expected, typed failure. `code` is stable SCREAMING_SNAKE with an area prefix. */
export class UpdraftError<Code extends string = string> extends Error {
  readonly code: Code;
  /** Small, non-secret facts about the failure (offsets, expected/actual values). */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: Code,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = Object.freeze({ ...(options.details ?? {}) });
  }
}

/** A broken invariant inside our own code: never expected, never converted to a typed error. */
export class BugError extends Error {
  readonly code = 'BUG' as const;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BugError';
  }
}

/** True for any {@link UpdraftError}, including subclasses from other packages. */
export function isUpdraftError(value: unknown): value is UpdraftError {
  return value instanceof UpdraftError;
}

/** Codes raised by `@updraft/core`. Keep in sync with docs/errors.md (checked by a test). */
export const CORE_ERROR_CODES = [
  'MANIFEST_MALFORMED',
  'MANIFEST_UNSUPPORTED',
  'MANIFEST_SIGNATURE_INVALID',
  'MANIFEST_UNTRUSTED_KEY',
  'MANIFEST_DIGEST_MISMATCH',
  'MANIFEST_VENDOR_MISMATCH',
  'MANIFEST_CLASS_MISMATCH',
  'MANIFEST_ROLLBACK',
  'MANIFEST_CONDITION_FAILED',
  'MANIFEST_MEMBER_MISSING',
  'MANIFEST_COMPONENT_UNKNOWN',
  'VERSION_INVALID',
  'MANIFEST_ENCRYPTION_INFO_MALFORMED',
  'MANIFEST_RECIPIENT_NOT_FOUND',
  'MANIFEST_KEY_UNWRAP_FAILED',
  'MANIFEST_DECRYPTION_FAILED',
  'MANIFEST_KEY_INVALID',
  'SCHEDULE_CRON_INVALID',
  'SCHEDULE_TIME_ZONE_INVALID',
] as const;
export type CoreErrorCode = (typeof CORE_ERROR_CODES)[number];

/** Error raised by `@updraft/core`. */
export class CoreError extends UpdraftError<CoreErrorCode> {}
