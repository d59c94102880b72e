import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { seg, serviceClient } from '../service.js';

/** `updraft group delete <group>`: removes the group; its devices stay. */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const group = args.requiredString('group');
  await api.request(`/api/v1/groups/${seg(group)}`, { method: 'DELETE' });
  ctx.result({ deleted: group }, `deleted group ${group}`);
  return EXIT_CODES.ok;
}
