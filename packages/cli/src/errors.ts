import { UpdraftError } from '@updraft/core';

/** Codes raised by `@updraft/cli`. Keep in sync with docs/errors.md (checked by a test). */
export const CLI_ERROR_CODES = [
  'CLI_USAGE',
  'CLI_FILE_NOT_FOUND',
  'CLI_FILE_UNREADABLE',
  'CLI_FILE_EXISTS',
  'CLI_FILE_TOO_LARGE',
  'CLI_KEY_INVALID',
  'CLI_KEY_PRIVATE',
  'CLI_RELEASE_INVALID',
  'CLI_SIGNER_FAILED',
  'CLI_CONFIG_INVALID',
  'CLI_NOT_LOGGED_IN',
  'CLI_SERVICE_UNREACHABLE',
  'CLI_SERVICE_ERROR',
  'CLI_INTERRUPTED',
] as const;
export type CliErrorCode = (typeof CLI_ERROR_CODES)[number];

/** True when `value` is one of {@link CLI_ERROR_CODES}. */
export function isCliErrorCode(value: unknown): value is CliErrorCode {
  return (CLI_ERROR_CODES as readonly unknown[]).includes(value);
}

/** Error raised by `@updraft/cli` itself (bad command line, unreadable files, service trouble). */
export class CliError extends UpdraftError<CliErrorCode> {}

/**
 * An error answered by the update service (RFC 9457 problem+json). Its `code` is the service's own
 * stable code (e.g. `ACTION_TRANSITION_INVALID`), so scripts see the same code as HTTP clients.
 */
export class ServiceError extends UpdraftError<string> {
  readonly status: number;
  constructor(
    status: number,
    code: string,
    message: string,
    details: Record<string, unknown> = {},
  ) {
    super(code, message, { details: { status, ...details } });
    this.status = status;
  }
}
