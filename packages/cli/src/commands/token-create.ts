import type { TokenView } from '@updraft/server';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { serviceClient } from '../service.js';

/**
 * `updraft token create <name> [--expires-in-days <n>]`: an API token for scripts and CI, shown
 * once (the service keeps only its hash). Without an expiry only admins may create one from a
 * login session.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const days = args.integer('expires-in-days', 3650);
  const created = await api.json<{ token: string; info: TokenView }>('/api/v1/tokens', {
    method: 'POST',
    body: { name: args.string('name'), ...(days === undefined ? {} : { expiresInDays: days }) },
  });
  ctx.result(
    created,
    [
      created.token,
      `  API token "${created.info.name}" (${created.info.id}), expires ${created.info.expiresAt ?? 'never'}`,
      '  shown only now: store it in your secret store (use it with --token or UPDRAFT_TOKEN)',
    ].join('\n'),
  );
  return EXIT_CODES.ok;
}
