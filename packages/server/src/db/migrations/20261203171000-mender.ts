import type { Kysely } from 'kysely';

/**
 * Mender device API (docs/mender-api.md): an auth set is one identity (`id_data`) with one
 * public key, as mender-client presents them in `auth_requests`. Its status is `preauthorized`
 * (an operator registered it), `pending` (waiting for the device's admission), `accepted` or
 * `rejected`. Digests are SHA-256 hex of the canonical id_data and of the key's DER SPKI.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('mender_auth_sets')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id'))
    .addColumn('id_data', 'text', (c) => c.notNull())
    .addColumn('id_data_digest', 'text', (c) => c.notNull())
    .addColumn('public_key_pem', 'text', (c) => c.notNull())
    .addColumn('public_key_digest', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('mender_auth_sets_identity_key', [
      'tenant_id',
      'id_data_digest',
      'public_key_digest',
    ])
    .execute();
  await db.schema
    .createIndex('mender_auth_sets_device')
    .on('mender_auth_sets')
    .columns(['tenant_id', 'device_id'])
    .execute();
}
