import type { Kysely } from 'kysely';

/**
 * The hawkBit DDI API (docs/hawkbit-ddi.md): per-tenant settings (plug-and-play registration,
 * the device class of new controllers, the polling sleep), gateway tokens (hashed, optionally
 * scoped to one device class, revocable) and the numeric action ids DDI clients need (SWUpdate
 * parses an action id as a C `int`), assigned on first sight of an action.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('ddi_settings')
    .addColumn('tenant_id', 'text', (c) => c.primaryKey().references('tenants.id'))
    .addColumn('auto_register', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('device_class_id', 'text')
    .addColumn('polling_sleep_seconds', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('ddi_gateway_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('device_class_id', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text')
    .addColumn('revoked_at', 'text')
    .execute();
  await db.schema
    .createIndex('ddi_gateway_tokens_tenant')
    .on('ddi_gateway_tokens')
    .column('tenant_id')
    .execute();

  await db.schema
    .createTable('ddi_action_ids')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('action_id', 'text', (c) => c.notNull().unique())
    .execute();
}
