import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { seg, serviceClient } from '../service.js';

/** `updraft ddi gateway-token revoke <id>`: the next DDI request with that token fails (401). */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const id = args.requiredString('id');
  await api.json(`/api/v1/ddi/gateway-tokens/${seg(id)}`, { method: 'DELETE' });
  ctx.result({ id, revoked: true }, `revoked gateway token ${id}`);
  return EXIT_CODES.ok;
}
