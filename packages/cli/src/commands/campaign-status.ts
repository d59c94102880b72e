import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { serviceClient } from '../service.js';
import { campaignId, fetchStatus, renderStatus } from './campaign-common.js';

/**
 * `updraft campaign status <id>`: per phase its state and target counts, the totals and the
 * failure reasons; `--json` prints the service's status document as it is.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const id = campaignId(args);
  const api = await serviceClient(ctx, args);
  const status = await fetchStatus(api, id);
  ctx.result(status, () => renderStatus(status));
  return EXIT_CODES.ok;
}
