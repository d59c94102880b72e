import { type Kysely, sql } from 'kysely';
import type { DialectSupport } from '../dialect-support.js';

/**
 * Rollout campaigns (docs/campaigns.md): the campaign, its ordered phases, its targets (one row
 * per device it reaches, with the device's campaign status), its event log (the SSE stream and
 * the audit of automatic decisions), progress samples (the time series) and the tenant's
 * campaign settings. Actions gain the campaign they belong to; a UNIQUE over
 * (campaign_id, device_id) makes "one action per device and campaign" a constraint (NULLs, i.e.
 * actions assigned by hand, never collide).
 */
export async function up(db: Kysely<unknown>, support: DialectSupport): Promise<void> {
  await db.schema
    .createTable('campaigns')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('release_id', 'text', (c) => c.notNull().references('releases.id'))
    .addColumn('filter', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('state_reason', 'text')
    .addColumn('action_type', 'text', (c) => c.notNull())
    .addColumn('force_after', 'text')
    .addColumn('recurring_window', 'text')
    .addColumn('soak_seconds', 'integer', (c) => c.notNull())
    .addColumn('health_timeout_seconds', 'integer', (c) => c.notNull())
    .addColumn('current_phase', 'integer', (c) => c.notNull())
    .addColumn('start_at', 'text')
    .addColumn('started_at', 'text')
    .addColumn('materialised_at', 'text')
    .addColumn('finished_at', 'text')
    .addColumn('review_decision', 'text')
    .addColumn('review_by', 'text')
    .addColumn('review_at', 'text')
    .addColumn('review_comment', 'text')
    .addColumn('revision', 'integer', (c) => c.notNull())
    .addColumn('created_by', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('campaigns_tenant_created')
    .on('campaigns')
    .columns(['tenant_id', 'created_at', 'id'])
    .execute();
  await db.schema.createIndex('campaigns_state').on('campaigns').columns(['state']).execute();

  await db.schema
    .createTable('campaign_phases')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('campaign_id', 'text', (c) => c.notNull().references('campaigns.id'))
    .addColumn('idx', 'integer', (c) => c.notNull())
    .addColumn('size_percent', 'double precision')
    .addColumn('size_count', 'integer')
    .addColumn('filter', 'text')
    .addColumn('success_threshold', 'double precision', (c) => c.notNull())
    .addColumn('error_threshold_percent', 'double precision')
    .addColumn('error_threshold_count', 'integer')
    .addColumn('manual_gate', 'integer', (c) => c.notNull())
    .addColumn('errors_acknowledged', 'integer', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('started_at', 'text')
    .addColumn('passed_at', 'text')
    .addPrimaryKeyConstraint('campaign_phases_pk', ['campaign_id', 'idx'])
    .execute();

  await db.schema
    .createTable('campaign_targets')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('campaign_id', 'text', (c) => c.notNull().references('campaigns.id'))
    .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id'))
    .addColumn('rank', 'text', (c) => c.notNull())
    .addColumn('phase', 'integer')
    .addColumn('action_id', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('code', 'text')
    .addColumn('joined_at', 'text', (c) => c.notNull())
    .addColumn('healthy_after', 'text')
    .addColumn('silent_after', 'text')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('campaign_targets_pk', ['campaign_id', 'device_id'])
    .execute();
  await db.schema
    .createIndex('campaign_targets_rank')
    .on('campaign_targets')
    .columns(['campaign_id', 'phase', 'rank'])
    .execute();
  await db.schema
    .createIndex('campaign_targets_status')
    .on('campaign_targets')
    .columns(['campaign_id', 'status', 'phase'])
    .execute();
  await db.schema
    .createIndex('campaign_targets_action')
    .on('campaign_targets')
    .column('action_id')
    .execute();
  await db.schema
    .createIndex('campaign_targets_device')
    .on('campaign_targets')
    .columns(['device_id', 'campaign_id'])
    .execute();

  await db.schema.alterTable('actions').addColumn('campaign_id', 'text').execute();
  await db.schema
    .createIndex('actions_campaign_device')
    .on('actions')
    .columns(['campaign_id', 'device_id'])
    .unique()
    .execute();

  await db.schema
    .createTable('campaign_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('campaign_id', 'text', (c) => c.notNull())
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('data', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('campaign_events_campaign')
    .on('campaign_events')
    .columns(['campaign_id', 'id'])
    .execute();
  for (const statement of support.appendOnlyStatements('campaign_events'))
    await sql.raw(statement).execute(db);

  await db.schema
    .createTable('campaign_samples')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('campaign_id', 'text', (c) => c.notNull())
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('counts', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('campaign_samples_pk', ['campaign_id', 'at'])
    .execute();

  await db.schema
    .createTable('campaign_settings')
    .addColumn('tenant_id', 'text', (c) => c.primaryKey().references('tenants.id'))
    .addColumn('approval_required', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
}
