import type { Kysely } from 'kysely';

/**
 * The campaign-level thresholds (docs/campaigns.md): each phase stores its own resolved values,
 * but the campaign keeps the defaults it was given so that an edit of its phases without
 * thresholds takes them again, and the API can show them. Nullable: null means the documented
 * defaults (95 % success, error threshold `{ percent: 10 }`).
 *
 * Also indexes for the target list (`GET /campaigns/{id}/targets`: keyset pages in rank order
 * over all phases; the engine's `(campaign_id, phase, rank)` index serves one phase at a time)
 * and for the example devices of each failure code in the status document.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('campaigns')
    .addColumn('success_threshold', 'double precision')
    .execute();
  // JSON `{ percent }` or `{ count }`.
  await db.schema.alterTable('campaigns').addColumn('error_threshold', 'text').execute();
  await db.schema
    .createIndex('campaign_targets_list')
    .on('campaign_targets')
    .columns(['campaign_id', 'rank', 'device_id'])
    .execute();
  await db.schema
    .createIndex('campaign_targets_code')
    .on('campaign_targets')
    .columns(['campaign_id', 'code', 'rank'])
    .execute();
}
