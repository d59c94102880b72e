import type { UserView } from '@updraft/server';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { resolveUser } from '../resolve-user.js';
import { seg, serviceClient } from '../service.js';

/**
 * `updraft user roles <user> [<role>...]`: replaces a user's roles (none given: no roles). The
 * service refuses a change that would leave the tenant without an enabled admin.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const user = await resolveUser(api, args.string('user') ?? '');
  const updated = await api.json<UserView>(`/api/v1/users/${seg(user.id)}/roles`, {
    method: 'PUT',
    body: { roles: args.strings('roles') },
  });
  ctx.result(updated, `${updated.username}: ${updated.roles.join(', ') || '(no roles)'}`);
  return EXIT_CODES.ok;
}
