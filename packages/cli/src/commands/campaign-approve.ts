import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import type { ExitCode } from '../exit-codes.js';
import { campaignOperation } from './campaign-common.js';

/** `updraft campaign approve <id> [--comment <text>]`: four-eyes, not by the campaign's creator. */
export function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const comment = args.string('comment');
  return campaignOperation(
    ctx,
    args,
    'approve',
    comment === undefined ? {} : { comment },
    'approved',
  );
}
