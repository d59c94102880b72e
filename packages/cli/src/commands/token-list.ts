import type { TokenView } from '@updraft/server';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { serviceClient, table } from '../service.js';

/** `updraft token list`: your API tokens and login sessions, newest first. */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const page = await api.json<{ items: TokenView[] }>('/api/v1/tokens');
  ctx.result(page, () =>
    table(
      ['ID', 'KIND', 'NAME', 'CREATED', 'EXPIRES', 'REVOKED'],
      page.items.map((t) => [t.id, t.kind, t.name, t.createdAt, t.expiresAt, t.revokedAt]),
    ),
  );
  return EXIT_CODES.ok;
}
