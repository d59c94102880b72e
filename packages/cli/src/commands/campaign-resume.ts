import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import type { ExitCode } from '../exit-codes.js';
import { campaignOperation } from './campaign-common.js';

/** `updraft campaign resume <id>`: running again (passes a manual gate). */
export function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  return campaignOperation(ctx, args, 'resume', {}, 'resumed');
}
