import type { Kysely } from 'kysely';

/**
 * Covering indexes for the dashboard's overview (`GET /api/v1/overview`, docs/web.md), so each
 * of its aggregates over 100,000 devices reads one index and never the tables:
 * - the fleet by class and online (one pass over a tenant's devices);
 * - the fleet by installed version (each active device's component versions, by device);
 * - failures of the last 24 h (a tenant's failure and rejection reports by time);
 * - bytes saved by deltas (a tenant's delta downloads).
 * `campaign_targets` gets none: the overview reaches it through its campaign id, like the engine.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createIndex('devices_overview')
    .on('devices')
    // id last: the versions are counted per active device from here (SQLite keeps rowids in
    // indexes, not the text key).
    .columns(['tenant_id', 'decommissioned_at', 'device_class_id', 'last_seen_at', 'id'])
    .execute();
  await db.schema
    .createIndex('device_components_version')
    .on('device_components')
    .columns(['device_id', 'version'])
    .execute();
  await db.schema
    .createIndex('action_events_tenant_status_at')
    .on('action_events')
    .columns(['tenant_id', 'status', 'at', 'code'])
    .execute();
  await db.schema
    .createIndex('delta_deliveries_saved')
    .on('delta_deliveries')
    .columns(['tenant_id', 'bytes_saved'])
    .execute();
}
