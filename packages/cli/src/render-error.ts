import { type InputProblem, isInputProblem, isUpdraftError } from '@updraft/core';
import type { CommandContext } from './command-context.js';
import { CliError } from './errors.js';
import { EXIT_CODES, type ExitCode, exitCodeForError } from './exit-codes.js';
import { toJsonValue } from './to-json.js';

/** One problem of a validated input, with the path to where it is (`components[1].image`). */
export type Problem = InputProblem;

const NODE_FILE_ERRORS: Readonly<Record<string, 'CLI_FILE_NOT_FOUND' | 'CLI_FILE_UNREADABLE'>> = {
  ENOENT: 'CLI_FILE_NOT_FOUND',
  ENOTDIR: 'CLI_FILE_NOT_FOUND',
  EACCES: 'CLI_FILE_UNREADABLE',
  EPERM: 'CLI_FILE_UNREADABLE',
  EISDIR: 'CLI_FILE_UNREADABLE',
};

/**
 * Turns anything a command threw into output and an exit code: typed errors become one line
 * `updraft: <message> [CODE]` on stderr (plus one line per problem of an invalid input), or
 * `{"error": {...}}` on stdout with `--json`. Unexpected errors say so in one line; their stack is
 * printed only with `--debug`.
 */
export function renderError(ctx: CommandContext, raw: unknown): ExitCode {
  const error = classify(raw);
  const exitCode = exitCodeForError(error);
  const typed = isUpdraftError(error);
  const code = typed ? error.code : 'UNEXPECTED';
  const message = oneLine(error instanceof Error ? error.message : String(error));
  const details = typed ? error.details : {};
  // Anything else in the list (a plain string from an older producer) is printed as is.
  const problems: Problem[] = Array.isArray(details.problems)
    ? details.problems.map((p: unknown) =>
        isInputProblem(p) ? p : { path: '(input)', message: String(p) },
      )
    : [];

  if (ctx.json) {
    ctx.io.stdout.write(
      `${JSON.stringify(toJsonValue({ error: { code, message, exitCode, details } }), null, 2)}\n`,
    );
  } else if (typed) {
    ctx.io.stderr.write(`updraft: ${message} [${code}]\n`);
    for (const p of problems) ctx.io.stderr.write(`  - ${p.path}: ${oneLine(p.message)}\n`);
  } else {
    ctx.io.stderr.write(
      `updraft: unexpected error: ${message}${ctx.debug ? '' : ' (rerun with --debug for details)'}\n`,
    );
  }
  if (ctx.debug && error instanceof Error && error.stack !== undefined) {
    ctx.io.stderr.write(`${error.stack}\n`);
  }
  return exitCode === EXIT_CODES.ok ? EXIT_CODES.failure : exitCode;
}

/** Node's file-system errors that escaped a command become typed file errors. */
function classify(error: unknown): unknown {
  if (isUpdraftError(error) || !(error instanceof Error)) return error;
  const sys = error as NodeJS.ErrnoException;
  const code = sys.code === undefined ? undefined : NODE_FILE_ERRORS[sys.code];
  if (code === undefined) return error;
  const what = code === 'CLI_FILE_NOT_FOUND' ? 'no such file' : 'cannot read';
  return new CliError(code, `${what}: ${sys.path ?? '(unknown path)'}`, {
    cause: error,
    details: { path: sys.path },
  });
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
