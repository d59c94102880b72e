import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import type { ExitCode } from '../exit-codes.js';
import { campaignOperation } from './campaign-common.js';

/** `updraft campaign cancel <id>`: open actions are cancelled at the devices' next check-in. */
export function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  return campaignOperation(ctx, args, 'cancel', {}, 'cancelled');
}
