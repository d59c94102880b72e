import type { Kysely } from 'kysely';

/**
 * Device identity (docs/pki.md): the tenant's online issuing CA, registered manufacturing CAs,
 * birth certificates seen at enrollment, issued operational certificates (the inventory),
 * one-time enrollment tokens, per-tenant PKI settings, and the admission state of a device
 * (`pending` devices registered by a birth certificate wait for an operator).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('devices')
    .addColumn('admission', 'text', (c) => c.notNull().defaultTo('accepted'))
    .execute();

  await db.schema
    .createTable('pki_tenant_cas')
    .addColumn('tenant_id', 'text', (c) => c.primaryKey().references('tenants.id'))
    .addColumn('certificate_pem', 'text', (c) => c.notNull())
    .addColumn('chain_pem', 'text', (c) => c.notNull())
    .addColumn('private_key_box', 'text', (c) => c.notNull())
    .addColumn('fingerprint', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('not_after', 'text', (c) => c.notNull())
    .addColumn('crl_number', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('pki_manufacturing_cas')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('certificate_pem', 'text', (c) => c.notNull())
    .addColumn('fingerprint', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('not_after', 'text', (c) => c.notNull())
    .addColumn('auto_accept', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('device_class_id', 'text', (c) => c.notNull().references('device_classes.id'))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text')
    .addColumn('removed_at', 'text')
    .addUniqueConstraint('pki_manufacturing_cas_fingerprint', ['tenant_id', 'fingerprint'])
    .execute();

  await db.schema
    .createTable('device_birth_certificates')
    .addColumn('fingerprint', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id'))
    .addColumn('manufacturing_ca_id', 'text', (c) =>
      c.notNull().references('pki_manufacturing_cas.id'),
    )
    .addColumn('spki_fingerprint', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('serial', 'text', (c) => c.notNull())
    .addColumn('first_seen_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('device_birth_certificates_device')
    .on('device_birth_certificates')
    .column('device_id')
    .execute();

  await db.schema
    .createTable('device_certificates')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id'))
    .addColumn('serial', 'text', (c) => c.notNull())
    .addColumn('fingerprint', 'text', (c) => c.notNull().unique())
    .addColumn('spki_fingerprint', 'text', (c) => c.notNull())
    .addColumn('certificate_pem', 'text', (c) => c.notNull())
    .addColumn('not_before', 'text', (c) => c.notNull())
    .addColumn('not_after', 'text', (c) => c.notNull())
    .addColumn('issued_at', 'text', (c) => c.notNull())
    .addColumn('issued_via', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('superseded_at', 'text')
    .addColumn('revoked_at', 'text')
    .addColumn('revocation_reason', 'text')
    .addColumn('revoked_by', 'text')
    .addUniqueConstraint('device_certificates_serial', ['tenant_id', 'serial'])
    .execute();
  await db.schema
    .createIndex('device_certificates_device')
    .on('device_certificates')
    .columns(['device_id', 'issued_at'])
    .execute();
  // The expiry report and the metric of certificates expiring soon.
  await db.schema
    .createIndex('device_certificates_expiry')
    .on('device_certificates')
    .columns(['tenant_id', 'state', 'not_after'])
    .execute();

  await db.schema
    .createTable('enrollment_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id'))
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text')
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('used_at', 'text')
    .execute();
  await db.schema
    .createIndex('enrollment_tokens_device')
    .on('enrollment_tokens')
    .column('device_id')
    .execute();

  await db.schema
    .createTable('pki_settings')
    .addColumn('tenant_id', 'text', (c) => c.primaryKey().references('tenants.id'))
    .addColumn('bearer_tokens_allowed', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('updated_by', 'text')
    .execute();
}
