import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import type { ExitCode } from '../exit-codes.js';
import { campaignOperation } from './campaign-common.js';

/** `updraft campaign pause <id> [--comment <text>]`: no new actions until resumed. */
export function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const comment = args.string('comment');
  return campaignOperation(ctx, args, 'pause', comment === undefined ? {} : { comment }, 'paused');
}
