import { type Kysely, sql } from 'kysely';
import { semverKey } from '../../features/filters/semver-key.js';

/**
 * Device groups (static member lists and dynamic saved filters) for target filters, and a
 * semver-sortable key beside each reported component version (see semver-key.ts), back-filled.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('device_groups')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('filter', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('device_groups_name', ['tenant_id', 'name'])
    .execute();
  await db.schema
    .createTable('device_group_members')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('group_id', 'text', (c) => c.notNull().references('device_groups.id'))
    .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id'))
    .addPrimaryKeyConstraint('device_group_members_pk', ['group_id', 'device_id'])
    .execute();
  await db.schema
    .createIndex('device_group_members_device')
    .on('device_group_members')
    .columns(['device_id', 'group_id'])
    .execute();

  await db.schema.alterTable('device_components').addColumn('version_key', 'text').execute();
  await backfillVersionKeys(db);
}

/**
 * Writes `version_key` for every component row with a version, in keyset pages of `pageSize` rows
 * so memory stays bounded on a large fleet. Exported for its test.
 */
export async function backfillVersionKeys(db: Kysely<unknown>, pageSize = 1000): Promise<void> {
  let after = { device_id: '', component_id: '' };
  for (;;) {
    const page = await sql<{ device_id: string; component_id: string; version: string }>`
      select device_id, component_id, version from device_components
      where version is not null
        and (device_id > ${after.device_id}
          or (device_id = ${after.device_id} and component_id > ${after.component_id}))
      order by device_id, component_id
      limit ${pageSize}
    `.execute(db);
    for (const row of page.rows) {
      const key = semverKey(row.version);
      if (key === undefined) continue;
      await sql`update device_components set version_key = ${key}
        where device_id = ${row.device_id} and component_id = ${row.component_id}`.execute(db);
    }
    const last = page.rows.at(-1);
    if (last === undefined || page.rows.length < pageSize) break;
    after = last;
  }
}
