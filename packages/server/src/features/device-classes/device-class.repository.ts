import type { Kysely, Transaction } from 'kysely';
import { newId } from '../../auth/secrets.js';
import type { Database } from '../../db/database.js';
import './device-class.table.js';

type Db = Kysely<Database> | Transaction<Database>;

/** A device class as the API shows it. */
export interface DeviceClassView {
  readonly id: string;
  readonly name: string;
  readonly vendorName: string | null;
  readonly modelName: string | null;
  readonly vendorId: string;
  readonly classId: string;
  readonly createdAt: string;
}

/** A trusted signing key as the API shows it. */
export interface TrustedKeyView {
  readonly id: string;
  readonly deviceClassId: string;
  readonly kid: string;
  readonly format: string;
  readonly algorithm: string;
  readonly publicKeyPem: string;
  readonly createdAt: string;
  readonly revokedAt: string | null;
  readonly revokedBy: string | null;
  readonly revocationReason: string | null;
}

/** What release verification needs of a trusted, non-revoked key. */
export interface TrustedKeyForVerification {
  readonly id: string;
  readonly kid: string;
  readonly algorithm: string;
  readonly publicKeyPem: string;
}

function classView(r: Database['device_classes']): DeviceClassView {
  return {
    id: r.id,
    name: r.name,
    vendorName: r.vendor_name,
    modelName: r.model_name,
    vendorId: r.vendor_id,
    classId: r.class_id,
    createdAt: r.created_at,
  };
}

function keyView(r: Database['trusted_keys']): TrustedKeyView {
  return {
    id: r.id,
    deviceClassId: r.device_class_id,
    kid: r.kid,
    format: r.format,
    algorithm: r.algorithm,
    publicKeyPem: r.public_key_pem,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
    revokedBy: r.revoked_by,
    revocationReason: r.revocation_reason,
  };
}

/** Inserts a device class. */
export async function createDeviceClass(
  trx: Transaction<Database>,
  tenantId: string,
  input: {
    name: string;
    vendorName: string | null;
    modelName: string | null;
    vendorId: string;
    classId: string;
  },
  now: string,
): Promise<DeviceClassView> {
  const row = {
    id: newId('cls'),
    tenant_id: tenantId,
    name: input.name,
    vendor_name: input.vendorName,
    model_name: input.modelName,
    vendor_id: input.vendorId,
    class_id: input.classId,
    created_at: now,
  };
  await trx.insertInto('device_classes').values(row).execute();
  return classView(row);
}

/** A class that conflicts with `name` or the (vendor-id, class-id) pair, if any. */
export async function findConflictingClass(
  db: Db,
  tenantId: string,
  name: string,
  vendorId: string,
  classId: string,
) {
  return db
    .selectFrom('device_classes')
    .select(['id', 'name'])
    .where('tenant_id', '=', tenantId)
    .where((eb) =>
      eb.or([
        eb('name', '=', name),
        eb.and([eb('vendor_id', '=', vendorId), eb('class_id', '=', classId)]),
      ]),
    )
    .executeTakeFirst();
}

/** Device classes of a tenant, by name. */
export async function listDeviceClasses(db: Db, tenantId: string): Promise<DeviceClassView[]> {
  const rows = await db
    .selectFrom('device_classes')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .orderBy('name')
    .execute();
  return rows.map(classView);
}

/** One device class of this tenant, or undefined. */
export async function getDeviceClass(
  db: Db,
  tenantId: string,
  id: string,
): Promise<DeviceClassView | undefined> {
  const row = await db
    .selectFrom('device_classes')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .executeTakeFirst();
  return row ? classView(row) : undefined;
}

/** Adds a trusted key to a class (caller checked the class is in this tenant). */
export async function addTrustedKey(
  trx: Transaction<Database>,
  tenantId: string,
  input: {
    deviceClassId: string;
    kid: string;
    format: string;
    algorithm: string;
    publicKeyPem: string;
    source: string;
    createdBy: string | null;
  },
  now: string,
): Promise<TrustedKeyView> {
  const row = {
    id: newId('key'),
    tenant_id: tenantId,
    device_class_id: input.deviceClassId,
    kid: input.kid,
    format: input.format,
    public_key_pem: input.publicKeyPem,
    source: input.source,
    algorithm: input.algorithm,
    created_at: now,
    created_by: input.createdBy,
    revoked_at: null,
    revoked_by: null,
    revocation_reason: null,
  };
  await trx.insertInto('trusted_keys').values(row).execute();
  return keyView(row);
}

/** All keys of a class (revoked ones too, with when/by whom/why). */
export async function listTrustedKeys(
  db: Db,
  tenantId: string,
  deviceClassId: string,
): Promise<TrustedKeyView[]> {
  const rows = await db
    .selectFrom('trusted_keys')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('device_class_id', '=', deviceClassId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return rows.map(keyView);
}

/** One key of a class, or undefined. */
export async function getTrustedKey(
  db: Db,
  tenantId: string,
  deviceClassId: string,
  keyId: string,
): Promise<TrustedKeyView | undefined> {
  const row = await db
    .selectFrom('trusted_keys')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('device_class_id', '=', deviceClassId)
    .where('id', '=', keyId)
    .executeTakeFirst();
  return row ? keyView(row) : undefined;
}

/** Records a key's revocation; false when not found or already revoked. The row is kept. */
export async function revokeTrustedKey(
  trx: Transaction<Database>,
  tenantId: string,
  deviceClassId: string,
  keyId: string,
  by: string | null,
  reason: string | null,
  now: string,
): Promise<boolean> {
  const result = await trx
    .updateTable('trusted_keys')
    .set({ revoked_at: now, revoked_by: by, revocation_reason: reason })
    .where('tenant_id', '=', tenantId)
    .where('device_class_id', '=', deviceClassId)
    .where('id', '=', keyId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/**
 * The class's trusted keys that are NOT revoked, for release verification and assignment
 * checks. Takes a transaction so the check and the write it guards see the same state.
 */
export async function trustedKeysForClass(
  trx: Db,
  tenantId: string,
  deviceClassId: string,
): Promise<TrustedKeyForVerification[]> {
  const rows = await trx
    .selectFrom('trusted_keys')
    .select(['id', 'kid', 'algorithm', 'public_key_pem'])
    .where('tenant_id', '=', tenantId)
    .where('device_class_id', '=', deviceClassId)
    .where('revoked_at', 'is', null)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    kid: r.kid,
    algorithm: r.algorithm,
    publicKeyPem: r.public_key_pem,
  }));
}
