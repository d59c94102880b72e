import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import type { ExitCode } from '../exit-codes.js';
import { campaignOperation } from './campaign-common.js';

/** `updraft campaign finish <id>`: open actions run to their end, no new ones. */
export function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  return campaignOperation(ctx, args, 'finish', {}, 'finished');
}
