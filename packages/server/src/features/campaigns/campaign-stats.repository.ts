import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../../db/database.js';
import { TARGET_STATUSES, type TargetStatus } from './campaign-states.js';
import './campaign.table.js';

type Db = Kysely<Database> | Transaction<Database>;

/** Counts by target status, plus `targets` (their sum). */
export type TargetCounts = { targets: number } & Record<TargetStatus, number>;

/** All-zero counts. */
export function emptyCounts(): TargetCounts {
  const counts = { targets: 0 } as TargetCounts;
  for (const s of TARGET_STATUSES) counts[s] = 0;
  return counts;
}

/** Per-phase counts (key: phase index, or `null` for targets no phase has taken yet) and totals. */
export interface CampaignCounts {
  readonly byPhase: ReadonlyMap<number | null, TargetCounts>;
  readonly totals: TargetCounts;
}

/**
 * A campaign's target counts by phase and status: one `GROUP BY` over its targets (the index
 * `campaign_targets_status` covers it).
 */
export async function campaignCounts(db: Db, campaignId: string): Promise<CampaignCounts> {
  const rows = await db
    .selectFrom('campaign_targets')
    .select(['phase', 'status', (eb) => eb.fn.countAll().as('n')])
    .where('campaign_id', '=', campaignId)
    .groupBy(['phase', 'status'])
    .execute();
  const byPhase = new Map<number | null, TargetCounts>();
  const totals = emptyCounts();
  for (const row of rows) {
    const phase = row.phase === null ? null : Number(row.phase);
    const n = Number(row.n);
    const counts = byPhase.get(phase) ?? emptyCounts();
    byPhase.set(phase, counts);
    const status = row.status as TargetStatus;
    counts[status] += n;
    counts.targets += n;
    totals[status] += n;
    totals.targets += n;
  }
  return { byPhase, totals };
}

/**
 * Totals by status of several campaigns at once: one `GROUP BY campaign_id, status` (the index
 * `campaign_targets_waiting` leads with both). Campaigns without targets get all-zero counts.
 */
export async function campaignTotals(
  db: Db,
  campaignIds: readonly string[],
): Promise<ReadonlyMap<string, TargetCounts>> {
  const totals = new Map<string, TargetCounts>(campaignIds.map((id) => [id, emptyCounts()]));
  if (campaignIds.length === 0) return totals;
  const rows = await db
    .selectFrom('campaign_targets')
    .select(['campaign_id', 'status', (eb) => eb.fn.countAll().as('n')])
    .where('campaign_id', 'in', campaignIds)
    .groupBy(['campaign_id', 'status'])
    .execute();
  for (const row of rows) {
    const counts = totals.get(row.campaign_id);
    if (!counts) continue;
    const n = Number(row.n);
    counts[row.status as TargetStatus] += n;
    counts.targets += n;
  }
  return totals;
}
