import { type Kysely, sql } from 'kysely';
import type { DialectSupport } from '../dialect-support.js';

/**
 * Keeps `devices.last_seen_at` out of every index, so its writes (the last-seen tracker's
 * batches: every polling device once per flush) are PostgreSQL HOT updates: the row is rewritten
 * in its page and no index gets an entry. With `last_seen_at` in the overview's covering index,
 * each of those writes added an entry to every index of `devices`: at 100,000 devices polling
 * every 60 s the write-ahead log and the table grew fast enough to stall commits, and the fleet
 * load's p99 went from 9 ms to seconds (docs/deployment.md, bench/fleet-load). The overview now
 * reads `last_seen_at` from the table through the same index (one page per few dozen devices).
 * A fill factor of 85 leaves room in each page for those in-place updates.
 */
export async function up(db: Kysely<unknown>, support: DialectSupport): Promise<void> {
  await db.schema.dropIndex('devices_overview').execute();
  await db.schema
    .createIndex('devices_overview')
    .on('devices')
    .columns(['tenant_id', 'decommissioned_at', 'device_class_id', 'id'])
    .execute();
  if (support.label === 'postgres')
    await sql`ALTER TABLE devices SET (fillfactor = 85)`.execute(db);
}
