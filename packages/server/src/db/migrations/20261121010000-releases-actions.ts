import { type Kysely, sql } from 'kysely';
import type { DialectSupport } from '../dialect-support.js';

/** Releases, their payloads, resumable upload sessions, actions, action events, check-in state. */
export async function up(db: Kysely<unknown>, support: DialectSupport): Promise<void> {
  await db.schema
    .createTable('releases')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('device_class_id', 'text', (c) => c.notNull().references('device_classes.id'))
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('sequence_number', 'bigint', (c) => c.notNull())
    .addColumn('manifest_digest', 'text', (c) => c.notNull())
    .addColumn('signer_kids', 'text', (c) => c.notNull())
    .addColumn('components', 'text', (c) => c.notNull())
    .addColumn('text', 'text')
    .addColumn('envelope', 'text', (c) => c.notNull())
    .addColumn('envelope_size', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text')
    // Deleted releases keep their row (actions' history points at it); payloads go.
    .addColumn('deleted_at', 'text')
    // Two releases of one class with the same sequence number would defeat anti-rollback.
    .addUniqueConstraint('releases_class_sequence', [
      'tenant_id',
      'device_class_id',
      'sequence_number',
    ])
    .execute();
  await db.schema
    .createIndex('releases_tenant_created')
    .on('releases')
    .columns(['tenant_id', 'created_at', 'id'])
    .execute();

  await db.schema
    .createTable('release_payloads')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('release_id', 'text', (c) => c.notNull().references('releases.id'))
    .addColumn('component_id', 'text', (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('sha1', 'text', (c) => c.notNull())
    .addColumn('md5', 'text', (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('release_payloads_pk', ['release_id', 'component_id'])
    .execute();
  await db.schema
    .createIndex('release_payloads_digest')
    .on('release_payloads')
    .columns(['tenant_id', 'sha256'])
    .execute();

  await db.schema
    .createTable('upload_sessions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('received', 'bigint', (c) => c.notNull())
    .addColumn('created_by', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('actions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id'))
    .addColumn('release_id', 'text', (c) => c.notNull().references('releases.id'))
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('cancel_requested', 'integer', (c) => c.notNull())
    .addColumn('download_only', 'integer', (c) => c.notNull())
    .addColumn('maintenance_window', 'text')
    // The device id while the action is open, NULL once closed: a plain UNIQUE over it is
    // "one open action per device" on every backend (NULLs never collide), no partial index.
    .addColumn('open_key', 'text')
    .addColumn('revision', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('actions_one_open_per_device', ['tenant_id', 'open_key'])
    .execute();
  await db.schema
    .createIndex('actions_device_history')
    .on('actions')
    .columns(['tenant_id', 'device_id', 'created_at'])
    .execute();
  await db.schema
    .createIndex('actions_release')
    .on('actions')
    .columns(['tenant_id', 'release_id', 'open_key'])
    .execute();

  await db.schema
    .createTable('action_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('action_id', 'text', (c) => c.notNull().references('actions.id'))
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('progress', 'integer')
    .addColumn('code', 'text')
    .addColumn('message', 'text')
    .addColumn('report_id', 'text')
    .addColumn('actor_id', 'text')
    // A replayed device report (same reportId) can never be recorded twice.
    .addUniqueConstraint('action_events_report', ['action_id', 'report_id'])
    .execute();
  await db.schema
    .createIndex('action_events_action_at')
    .on('action_events')
    .columns(['action_id', 'at'])
    .execute();
  for (const statement of support.appendOnlyStatements('action_events'))
    await sql.raw(statement).execute(db);

  await db.schema
    .createTable('device_reports')
    .addColumn('device_id', 'text', (c) => c.primaryKey().references('devices.id'))
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('report_digest', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
}
