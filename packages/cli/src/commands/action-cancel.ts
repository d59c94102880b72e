import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { seg, serviceClient } from '../service.js';
import { type ActionView, describeAction } from './action-show.js';

/** `updraft action cancel <id>`: requests cancellation; the device acknowledges it. */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const action = await api.json<ActionView>(
    `/api/v1/actions/${seg(args.requiredString('id'))}/cancel`,
    {
      method: 'POST',
    },
  );
  ctx.result(action, () => `cancellation requested: ${describeAction(action)}`);
  return EXIT_CODES.ok;
}
