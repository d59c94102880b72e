import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { resolveUser } from '../resolve-user.js';
import { seg, serviceClient } from '../service.js';

/** `updraft user disable <user>`: disables a user and revokes all its tokens. */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const user = await resolveUser(api, args.string('user') ?? '');
  await api.json(`/api/v1/users/${seg(user.id)}`, { method: 'DELETE' });
  ctx.result(
    { id: user.id, username: user.username, disabled: true },
    `disabled ${user.username} (${user.id}); its tokens are revoked`,
  );
  return EXIT_CODES.ok;
}
