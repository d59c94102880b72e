import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { serviceClient, table } from '../service.js';
import { type CampaignView, phaseSizeText } from './campaign-common.js';

export const CAMPAIGN_STATES = [
  'draft',
  'approved',
  'scheduled',
  'running',
  'paused',
  'finished',
  'cancelled',
] as const;

/** Most campaigns one `campaign list` prints (pages of 100 are followed up to it). */
const MAX_LISTED = 1000;

/** `updraft campaign list [--state <state>]`: the tenant's campaigns, newest first. */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const state = args.choice('state', CAMPAIGN_STATES);
  const api = await serviceClient(ctx, args);
  const items: CampaignView[] = [];
  let cursor: string | undefined;
  do {
    const page = await api.json<{ items: CampaignView[]; nextCursor?: string | null }>(
      '/api/v1/campaigns',
      { query: { state, limit: 100, cursor } },
    );
    items.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined && items.length < MAX_LISTED);
  ctx.result({ items }, () =>
    table(
      ['ID', 'NAME', 'STATE', 'TYPE', 'PHASES', 'RELEASE', 'CREATED'],
      items.map((c) => [
        c.id,
        c.name,
        c.stateReason ? `${c.state} (${c.stateReason})` : c.state,
        c.type,
        c.phases.map((p) => phaseSizeText(p)).join(',') || '100%',
        c.releaseId,
        c.createdAt,
      ]),
    ),
  );
  return EXIT_CODES.ok;
}
