import { isUpdraftError } from '@updraft/core';
import { ServiceError } from './errors.js';

/**
 * Process exit codes of the `updraft` command. Documented in docs/cli.md; scripts rely on them,
 * so a value never changes meaning.
 */
export const EXIT_CODES = {
  /** Success. */
  ok: 0,
  /** An unexpected failure (a bug or an unclassified error); rerun with --debug for the stack. */
  failure: 1,
  /** Bad command line: unknown command or option, missing or invalid argument. */
  usage: 2,
  /** An input file is missing, unreadable or invalid (key, release description, config). */
  input: 3,
  /** The envelope or payload was rejected: signature, trust, digest, vendor/class, rollback. */
  rejected: 4,
  /** The envelope is malformed or uses something this implementation does not support. */
  malformed: 5,
  /** Payload encryption or decryption failed (wrong key, corrupted ciphertext). */
  crypto: 6,
  /** The external signer command failed or returned a bad signature. */
  signer: 7,
  /** The update service refused the request or could not be reached; or not logged in. */
  service: 8,
  /** The server cannot listen on its host and port (in use, privileged, not local). */
  unavailable: 9,
  /** A typed error of another package without an exit code of its own (DELTA_*, AGENT_*, …). */
  other: 10,
  /** Interrupted (Ctrl-C); a rerun resumes where it can (uploads). */
  interrupted: 130,
} as const;
export type ExitCodeName = keyof typeof EXIT_CODES;
export type ExitCode = (typeof EXIT_CODES)[ExitCodeName];

// Exact codes first, then prefixes: keep in sync with the table in docs/cli.md.
const EXACT: Readonly<Record<string, ExitCodeName>> = {
  CLI_USAGE: 'usage',
  CLI_FILE_NOT_FOUND: 'input',
  CLI_FILE_UNREADABLE: 'input',
  CLI_FILE_EXISTS: 'input',
  CLI_FILE_TOO_LARGE: 'input',
  CLI_KEY_INVALID: 'input',
  CLI_KEY_PRIVATE: 'input',
  CLI_RELEASE_INVALID: 'input',
  CLI_CONFIG_INVALID: 'input',
  CLI_SIGNER_FAILED: 'signer',
  CLI_NOT_LOGGED_IN: 'service',
  CLI_SERVICE_UNREACHABLE: 'service',
  CLI_SERVICE_ERROR: 'service',
  CLI_INTERRUPTED: 'interrupted',
  CONFIG_INVALID: 'input',
  LISTEN_ADDRESS_UNAVAILABLE: 'unavailable',
  TLS_CERTIFICATE_INVALID: 'input',
  TLS_KEY_MISMATCH: 'input',
  MANIFEST_MALFORMED: 'malformed',
  MANIFEST_UNSUPPORTED: 'malformed',
  MANIFEST_ENCRYPTION_INFO_MALFORMED: 'malformed',
  MANIFEST_KEY_INVALID: 'input',
  MANIFEST_DECRYPTION_FAILED: 'crypto',
  MANIFEST_KEY_UNWRAP_FAILED: 'crypto',
  MANIFEST_RECIPIENT_NOT_FOUND: 'crypto',
  SIM_CONFIG_INVALID: 'input',
  AGENT_CONFIG_INVALID: 'input',
  AGENT_BOOT_STATE_INVALID: 'input',
  AGENT_AUTH_REJECTED: 'service',
  AGENT_SERVER_UNREACHABLE: 'service',
  AGENT_TLS_REFUSED: 'service',
  AGENT_ENROLLMENT_REFUSED: 'service',
  AGENT_ENROLLMENT_REJECTED: 'service',
  AGENT_ENROLLMENT_PENDING: 'service',
};

const PREFIXES: ReadonlyArray<readonly [string, ExitCodeName]> = [
  ['MANIFEST_', 'rejected'],
  ['SIM_IMAGE_', 'rejected'],
  ['SIM_SERVER_', 'service'],
];

/** The exit code for a typed error's `code`; codes not in the table are `other` (10). */
export function exitCodeForCode(code: string): ExitCode {
  const exact = EXACT[code];
  if (exact !== undefined) return EXIT_CODES[exact];
  for (const [prefix, name] of PREFIXES) {
    if (code.startsWith(prefix)) return EXIT_CODES[name];
  }
  return EXIT_CODES.other;
}

/** The exit code for anything a command threw. */
export function exitCodeForError(error: unknown): ExitCode {
  if (error instanceof ServiceError) return EXIT_CODES.service;
  if (isUpdraftError(error)) return exitCodeForCode(error.code);
  return EXIT_CODES.failure;
}
