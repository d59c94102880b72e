import { type Kysely, sql } from 'kysely';
import type { DialectSupport } from '../dialect-support.js';

/**
 * Campaign fan-out in batches (docs/campaigns.md, "The engine"): the waiting targets are
 * walked in (phase, device id) order per status, so the status index gains device_id (it still
 * serves every query the old one did). On PostgreSQL an `actions` INSERT notifies the device
 * change feed once per statement instead of once per row (db/device-changes.ts).
 */
export async function up(db: Kysely<unknown>, support: DialectSupport): Promise<void> {
  await db.schema.dropIndex('campaign_targets_status').execute();
  await db.schema
    .createIndex('campaign_targets_waiting')
    .on('campaign_targets')
    .columns(['campaign_id', 'status', 'phase', 'device_id'])
    .execute();
  for (const statement of support.bulkDeviceChangeTriggerStatements())
    await sql.raw(statement).execute(db);
}
