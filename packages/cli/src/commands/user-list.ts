import type { UserView } from '@updraft/server';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { serviceClient, table } from '../service.js';

/** `updraft user list`: the users of your tenant with their roles. */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const page = await api.json<{ items: UserView[] }>('/api/v1/users');
  ctx.result(page, () =>
    table(
      ['ID', 'USERNAME', 'ROLES', 'CREATED', 'DISABLED'],
      page.items.map((u) => [u.id, u.username, u.roles.join(','), u.createdAt, u.disabledAt]),
    ),
  );
  return EXIT_CODES.ok;
}
