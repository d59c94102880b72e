import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { serviceClient } from '../service.js';

/**
 * `updraft campaign settings [--approval-required true|false]`: shows the tenant's campaign
 * settings, or changes them (needs `settings:write`).
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const approval = args.choice('approval-required', ['true', 'false'] as const);
  const api = await serviceClient(ctx, args);
  const settings = await api.json<{ approvalRequired: boolean }>(
    '/api/v1/campaign-settings',
    approval === undefined
      ? {}
      : { method: 'PUT', body: { approvalRequired: approval === 'true' } },
  );
  ctx.result(
    settings,
    `approval ${settings.approvalRequired ? 'required (four-eyes)' : 'not required'} before a campaign starts`,
  );
  return EXIT_CODES.ok;
}
