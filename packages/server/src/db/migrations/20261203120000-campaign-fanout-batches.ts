import type { Kysely } from 'kysely';

/**
 * Campaign fan-out in batches (docs/campaigns.md, "The engine"): the waiting targets are
 * walked in (phase, device id) order per status, so the status index gains device_id (it still
 * serves every query the old one did).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('campaign_targets_status').execute();
  await db.schema
    .createIndex('campaign_targets_waiting')
    .on('campaign_targets')
    .columns(['campaign_id', 'status', 'phase', 'device_id'])
    .execute();
}
