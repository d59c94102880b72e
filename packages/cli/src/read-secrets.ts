import type { CommandContext } from './command-context.js';
import { CliError } from './errors.js';

const MAX_SECRET_INPUT_BYTES = 4096;

/**
 * Reads `count` secrets (passwords), one per line, from standard input: passwords never come from
 * the command line, where `ps` and shell histories show them. `what` names them for errors.
 *
 * @example
 * const [current, next] = await readSecrets(ctx, ['current password', 'new password']);
 */
export async function readSecrets(ctx: CommandContext, what: readonly string[]): Promise<string[]> {
  if (ctx.io.stdin === undefined)
    throw new CliError('CLI_USAGE', '--password-stdin: no standard input');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.io.stdin) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk);
    size += b.length;
    if (size > MAX_SECRET_INPUT_BYTES)
      throw new CliError(
        'CLI_USAGE',
        `--password-stdin: the input is longer than ${MAX_SECRET_INPUT_BYTES} bytes`,
      );
    chunks.push(b);
  }
  const lines = Buffer.concat(chunks).toString('utf8').split(/\r?\n/);
  const secrets = what.map((_, i) => lines[i] ?? '');
  const missing = what.filter((_, i) => secrets[i] === '');
  if (missing.length > 0)
    throw new CliError(
      'CLI_USAGE',
      `--password-stdin: give ${what.join(', then ')} on standard input, one per line (missing: ${missing.join(', ')})`,
    );
  return secrets;
}
