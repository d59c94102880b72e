import type { Kysely } from 'kysely';

/** Delta delivery: which bases a release gets deltas for, the patch cache, and deliveries. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('release_delta_bases')
    .addColumn('release_id', 'text', (c) => c.primaryKey().references('releases.id'))
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('any_installed', 'integer', (c) => c.notNull())
    .addColumn('base_release_ids', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();

  // One patch per (base image, target payload) of a tenant, whichever releases share them.
  await db.schema
    .createTable('deltas')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('base_digest', 'text', (c) => c.notNull())
    .addColumn('target_digest', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('target_size', 'bigint', (c) => c.notNull())
    .addColumn('patch_digest', 'text')
    .addColumn('patch_size', 'bigint')
    .addColumn('error_code', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('deltas_pk', ['tenant_id', 'base_digest', 'target_digest'])
    .execute();
  await db.schema
    .createIndex('deltas_patch')
    .on('deltas')
    .columns(['tenant_id', 'patch_digest'])
    .execute();

  // A completed patch download per action; the key makes a repeated download count once.
  await db.schema
    .createTable('delta_deliveries')
    .addColumn('action_id', 'text', (c) => c.notNull().references('actions.id'))
    .addColumn('patch_digest', 'text', (c) => c.notNull())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('release_id', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('bytes_saved', 'bigint', (c) => c.notNull())
    .addColumn('at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('delta_deliveries_pk', ['action_id', 'patch_digest'])
    .execute();
  await db.schema
    .createIndex('delta_deliveries_release')
    .on('delta_deliveries')
    .columns(['tenant_id', 'release_id'])
    .execute();
}
