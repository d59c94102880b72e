import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import type { ExitCode } from '../exit-codes.js';
import { campaignOperation } from './campaign-common.js';

/** `updraft campaign reject <id> --comment <text>`: back to draft, the review kept with its reason. */
export function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  // The API requires the comment: a rejection says why.
  const comment = args.requiredString('comment');
  return campaignOperation(ctx, args, 'reject', { comment }, 'rejected');
}
