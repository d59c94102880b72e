import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { seg, serviceClient } from '../service.js';

/** `updraft token revoke <id>`: revokes one of your tokens (see `updraft token list`). */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const id = args.string('id') ?? '';
  await api.json(`/api/v1/tokens/${seg(id)}`, { method: 'DELETE' });
  ctx.result({ id, revoked: true }, `revoked token ${id}`);
  return EXIT_CODES.ok;
}
