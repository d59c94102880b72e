import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import type { ExitCode } from '../exit-codes.js';
import { campaignOperation, isoTime } from './campaign-common.js';

/** `updraft campaign start <id> [--at <iso>]`: running now, or scheduled for a future time. */
export function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const at = isoTime(args, 'at');
  return campaignOperation(ctx, args, 'start', at === undefined ? {} : { at }, 'started');
}
