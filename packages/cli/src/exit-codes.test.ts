import { BugError, CoreError, UpdraftError } from '@updraft/core';
import { describe, expect, it } from 'vitest';
import { CliError, ServiceError } from './errors.js';
import { EXIT_CODES, exitCodeForCode, exitCodeForError } from './exit-codes.js';

describe('exit codes', () => {
  it.each([
    ['CLI_USAGE', EXIT_CODES.usage],
    ['CLI_RELEASE_INVALID', EXIT_CODES.input],
    ['MANIFEST_KEY_INVALID', EXIT_CODES.input],
    ['MANIFEST_MALFORMED', EXIT_CODES.malformed],
    ['MANIFEST_ROLLBACK', EXIT_CODES.rejected],
    ['MANIFEST_SOMETHING_NEW', EXIT_CODES.rejected],
    ['MANIFEST_DECRYPTION_FAILED', EXIT_CODES.crypto],
    ['CLI_SIGNER_FAILED', EXIT_CODES.signer],
    ['CLI_NOT_LOGGED_IN', EXIT_CODES.service],
    ['CLI_INTERRUPTED', EXIT_CODES.interrupted],
    ['DELTA_BASE_MISMATCH', EXIT_CODES.other],
    ['AGENT_CONFIG_INVALID', EXIT_CODES.input],
    ['SIM_CONFIG_INVALID', EXIT_CODES.input],
    ['SIM_IMAGE_SIGNATURE_INVALID', EXIT_CODES.rejected],
  ])('maps %s to %i', (code, exit) => {
    expect(exitCodeForCode(code)).toBe(exit);
  });

  it('maps errors: service refusals to 8 whatever their code, untyped errors and bugs to 1', () => {
    expect(exitCodeForError(new ServiceError(409, 'ACTION_ALREADY_OPEN', 'x'))).toBe(
      EXIT_CODES.service,
    );
    expect(exitCodeForError(new CoreError('MANIFEST_ROLLBACK', 'x'))).toBe(EXIT_CODES.rejected);
    expect(exitCodeForError(new CliError('CLI_USAGE', 'x'))).toBe(EXIT_CODES.usage);
    expect(exitCodeForError(new UpdraftError('AGENT_DOWNLOAD_STALLED', 'x'))).toBe(
      EXIT_CODES.other,
    );
    expect(exitCodeForError(new BugError('x'))).toBe(EXIT_CODES.failure);
    expect(exitCodeForError(new TypeError('x'))).toBe(EXIT_CODES.failure);
    expect(exitCodeForError('a string')).toBe(EXIT_CODES.failure);
  });

  it('uses distinct values', () => {
    const values = Object.values(EXIT_CODES);
    expect(new Set(values).size).toBe(values.length);
  });
});
