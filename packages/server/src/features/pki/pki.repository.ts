import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../../db/database.js';
import type { DialectSupport } from '../../db/dialect-support.js';
import type {
  DeviceAdmission,
  DeviceBirthCertificateTable,
  DeviceCertificateState,
  DeviceCertificateTable,
  EnrollmentTokenTable,
  PkiManufacturingCaTable,
} from './pki.table.js';

type Db = Kysely<Database> | Transaction<Database>;

/** The device fields enrollment needs. */
export interface EnrollingDevice {
  readonly id: string;
  readonly name: string;
  readonly admission: string;
  readonly decommissioned: boolean;
  readonly deviceClassId: string;
}

/** One device of the tenant by id. */
export async function findEnrollingDevice(
  db: Db,
  tenantId: string,
  by: { id: string } | { name: string },
): Promise<EnrollingDevice | undefined> {
  let query = db
    .selectFrom('devices')
    .select(['id', 'name', 'admission', 'decommissioned_at', 'device_class_id'])
    .where('tenant_id', '=', tenantId);
  query = 'id' in by ? query.where('id', '=', by.id) : query.where('name', '=', by.name);
  const row = await query.executeTakeFirst();
  return (
    row && {
      id: row.id,
      name: row.name,
      admission: row.admission,
      decommissioned: row.decommissioned_at !== null,
      deviceClassId: row.device_class_id,
    }
  );
}

/** Registers a device known only by its birth certificate (no bearer token: it enrolls). */
export async function insertEnrolledDevice(
  trx: Transaction<Database>,
  row: {
    id: string;
    tenantId: string;
    name: string;
    deviceClassId: string;
    admission: DeviceAdmission;
  },
  now: string,
): Promise<void> {
  await trx
    .insertInto('devices')
    .values({
      id: row.id,
      tenant_id: row.tenantId,
      name: row.name,
      device_class_id: row.deviceClassId,
      created_at: now,
      last_seen_at: null,
      decommissioned_at: null,
      admission: row.admission,
    })
    .execute();
}

/** Sets a device's admission; false when the tenant has no such device. */
export async function setAdmission(
  trx: Transaction<Database>,
  tenantId: string,
  deviceId: string,
  admission: DeviceAdmission,
): Promise<boolean> {
  const done = await trx
    .updateTable('devices')
    .set({ admission })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', deviceId)
    .executeTakeFirst();
  return Number(done.numUpdatedRows) > 0;
}

// ---- enrollment tokens

export async function insertEnrollmentToken(
  trx: Transaction<Database>,
  row: EnrollmentTokenTable,
): Promise<void> {
  await trx.insertInto('enrollment_tokens').values(row).execute();
}

export function findEnrollmentToken(
  db: Db,
  tenantId: string,
  tokenHash: string,
): Promise<EnrollmentTokenTable | undefined> {
  return db
    .selectFrom('enrollment_tokens')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('token_hash', '=', tokenHash)
    .executeTakeFirst();
}

/** Marks a token used; false when it was used meanwhile (the loser of a race issues nothing). */
export async function useEnrollmentToken(
  trx: Transaction<Database>,
  id: string,
  now: string,
): Promise<boolean> {
  const done = await trx
    .updateTable('enrollment_tokens')
    .set({ used_at: now })
    .where('id', '=', id)
    .where('used_at', 'is', null)
    .executeTakeFirst();
  return Number(done.numUpdatedRows) === 1;
}

// ---- manufacturing CAs

export async function insertManufacturingCa(
  trx: Transaction<Database>,
  row: PkiManufacturingCaTable,
): Promise<void> {
  await trx.insertInto('pki_manufacturing_cas').values(row).execute();
}

/** The tenant's manufacturing CAs; removed ones only when `includeRemoved`. */
export function listManufacturingCas(
  db: Db,
  tenantId: string,
  includeRemoved = false,
): Promise<PkiManufacturingCaTable[]> {
  let query = db.selectFrom('pki_manufacturing_cas').selectAll().where('tenant_id', '=', tenantId);
  if (!includeRemoved) query = query.where('removed_at', 'is', null);
  return query.orderBy('created_at').orderBy('id').execute();
}

export function findManufacturingCaByFingerprint(
  db: Db,
  tenantId: string,
  fingerprint: string,
): Promise<PkiManufacturingCaTable | undefined> {
  return db
    .selectFrom('pki_manufacturing_cas')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('fingerprint', '=', fingerprint)
    .executeTakeFirst();
}

/** Marks a manufacturing CA removed; false when there is no such CA still registered. */
export async function removeManufacturingCa(
  trx: Transaction<Database>,
  tenantId: string,
  id: string,
  now: string,
): Promise<boolean> {
  const done = await trx
    .updateTable('pki_manufacturing_cas')
    .set({ removed_at: now })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .where('removed_at', 'is', null)
    .executeTakeFirst();
  return Number(done.numUpdatedRows) > 0;
}

// ---- birth certificates

export function findBirthCertificate(
  db: Db,
  fingerprint: string,
): Promise<DeviceBirthCertificateTable | undefined> {
  return db
    .selectFrom('device_birth_certificates')
    .selectAll()
    .where('fingerprint', '=', fingerprint)
    .executeTakeFirst();
}

export async function insertBirthCertificate(
  trx: Transaction<Database>,
  row: DeviceBirthCertificateTable,
): Promise<void> {
  await trx.insertInto('device_birth_certificates').values(row).execute();
}

/** SPKI fingerprints a device may never have certified again: its birth keys and every key it had. */
export async function usedKeysOfDevice(db: Db, deviceId: string): Promise<string[]> {
  const births = await db
    .selectFrom('device_birth_certificates')
    .select('spki_fingerprint')
    .where('device_id', '=', deviceId)
    .execute();
  const certs = await db
    .selectFrom('device_certificates')
    .select('spki_fingerprint')
    .where('device_id', '=', deviceId)
    .execute();
  return [...births, ...certs].map((r) => r.spki_fingerprint);
}

// ---- operational certificates

/**
 * Locks the device's row until the transaction ends, so issuances for one device run one after
 * the other and each supersedes what the previous one stored. Where writers are concurrent
 * (PostgreSQL) this is `FOR NO KEY UPDATE`, which still lets other rows reference the device;
 * SQLite serialises write transactions, so the transaction itself is the lock there.
 */
export async function lockDeviceForIssuance(
  trx: Transaction<Database>,
  support: Pick<DialectSupport, 'supportsConcurrentWriters'>,
  tenantId: string,
  deviceId: string,
): Promise<void> {
  await trx
    .selectFrom('devices')
    .select('id')
    .where('tenant_id', '=', tenantId)
    .where('id', '=', deviceId)
    .$if(support.supportsConcurrentWriters, (q) => q.forNoKeyUpdate())
    .execute();
}

/**
 * Stores a newly issued certificate as the device's `active` one and supersedes its older active
 * ones, in the caller's transaction (issuance is all or nothing). Call after
 * {@link lockDeviceForIssuance}: the unique index `device_certificates_one_active` refuses a
 * second active row of a device that an unlocked concurrent issuance would leave.
 */
export async function insertActiveCertificate(
  trx: Transaction<Database>,
  row: DeviceCertificateTable,
): Promise<void> {
  await trx
    .updateTable('device_certificates')
    .set({ state: 'superseded', superseded_at: row.issued_at })
    .where('tenant_id', '=', row.tenant_id)
    .where('device_id', '=', row.device_id)
    .where('state', '=', 'active')
    .execute();
  await trx.insertInto('device_certificates').values(row).execute();
}

export function findCertificateByFingerprint(
  db: Db,
  tenantId: string,
  fingerprint: string,
): Promise<DeviceCertificateTable | undefined> {
  return db
    .selectFrom('device_certificates')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('fingerprint', '=', fingerprint)
    .executeTakeFirst();
}

/** A certificate of the tenant by id (`crt_…`) or serial (hex, any case). */
export function findCertificate(
  db: Db,
  tenantId: string,
  idOrSerial: string,
): Promise<DeviceCertificateTable | undefined> {
  return db
    .selectFrom('device_certificates')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where((eb) => eb.or([eb('id', '=', idOrSerial), eb('serial', '=', idOrSerial.toLowerCase())]))
    .executeTakeFirst();
}

/** Filters of the inventory; `after` is the keyset position (issued_at, id) of the last row seen. */
export interface CertificateQuery {
  readonly deviceId?: string;
  readonly state?: DeviceCertificateState;
  /** Certificates whose notAfter is before this instant (ISO). */
  readonly expiringBefore?: string;
  readonly after?: { readonly issuedAt: string; readonly id: string };
  readonly limit: number;
}

/** The inventory, newest first (keyset pages on issued_at, id). */
export function listCertificates(
  db: Db,
  tenantId: string,
  q: CertificateQuery,
): Promise<DeviceCertificateTable[]> {
  let query = db.selectFrom('device_certificates').selectAll().where('tenant_id', '=', tenantId);
  if (q.deviceId !== undefined) query = query.where('device_id', '=', q.deviceId);
  if (q.state !== undefined) query = query.where('state', '=', q.state);
  if (q.expiringBefore !== undefined) query = query.where('not_after', '<', q.expiringBefore);
  const after = q.after;
  if (after !== undefined)
    query = query.where((eb) =>
      eb.or([
        eb('issued_at', '<', after.issuedAt),
        eb.and([eb('issued_at', '=', after.issuedAt), eb('id', '<', after.id)]),
      ]),
    );
  return query.orderBy('issued_at', 'desc').orderBy('id', 'desc').limit(q.limit).execute();
}

/** Active certificates whose notAfter lies in [now, before), soonest first (the expiry report). */
export function expiringCertificates(
  db: Db,
  tenantId: string | undefined,
  now: string,
  before: string,
  limit: number,
): Promise<DeviceCertificateTable[]> {
  let query = db
    .selectFrom('device_certificates')
    .selectAll()
    .where('state', '=', 'active')
    .where('not_after', '>=', now)
    .where('not_after', '<', before);
  if (tenantId !== undefined) query = query.where('tenant_id', '=', tenantId);
  return query.orderBy('not_after').orderBy('id').limit(limit).execute();
}

/** How many active certificates of every tenant expire in [now, before) (the metric). */
export async function countExpiring(db: Db, now: string, before: string): Promise<number> {
  const row = await db
    .selectFrom('device_certificates')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('state', '=', 'active')
    .where('not_after', '>=', now)
    .where('not_after', '<', before)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/**
 * Revokes certificates in one UPDATE (one committed statement, so the device authenticator sees
 * the revocation at once): one by id or serial, or all of a device's not yet revoked. Returns the
 * revoked rows' ids.
 */
export async function revokeCertificates(
  trx: Transaction<Database>,
  tenantId: string,
  target: { certificateId: string } | { deviceId: string },
  revocation: { at: string; reason: string; by: string | null },
): Promise<string[]> {
  let ids = trx
    .selectFrom('device_certificates')
    .select('id')
    .where('tenant_id', '=', tenantId)
    .where('state', '!=', 'revoked');
  ids =
    'certificateId' in target
      ? ids.where('id', '=', target.certificateId)
      : ids.where('device_id', '=', target.deviceId);
  const targets = (await ids.execute()).map((r) => r.id);
  if (targets.length === 0) return [];
  await trx
    .updateTable('device_certificates')
    .set({
      state: 'revoked',
      revoked_at: revocation.at,
      revocation_reason: revocation.reason,
      revoked_by: revocation.by,
    })
    .where('tenant_id', '=', tenantId)
    .where('id', 'in', targets)
    .where('state', '!=', 'revoked')
    .execute();
  return targets;
}

/** Revoked certificates still inside their validity (a CRL lists nothing already expired). */
export function revokedUnexpired(
  db: Db,
  tenantId: string,
  now: string,
): Promise<Array<Pick<DeviceCertificateTable, 'serial' | 'revoked_at' | 'revocation_reason'>>> {
  return db
    .selectFrom('device_certificates')
    .select(['serial', 'revoked_at', 'revocation_reason'])
    .where('tenant_id', '=', tenantId)
    .where('state', '=', 'revoked')
    .where('not_after', '>', now)
    .orderBy('revoked_at')
    .execute();
}

// ---- the tenant CA's CRL number and settings

/** Increments the tenant's CRL number; returns the new one. */
export async function nextCrlNumber(trx: Transaction<Database>, tenantId: string): Promise<number> {
  await trx
    .updateTable('pki_tenant_cas')
    .set((eb) => ({ crl_number: eb('crl_number', '+', 1) }))
    .where('tenant_id', '=', tenantId)
    .execute();
  return crlNumber(trx, tenantId);
}

/** The tenant's current CRL number. */
export async function crlNumber(db: Db, tenantId: string): Promise<number> {
  const row = await db
    .selectFrom('pki_tenant_cas')
    .select('crl_number')
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  return Number(row?.crl_number ?? 0);
}

/** Whether the tenant allows bearer device tokens (true when never set). */
export async function getBearerTokensAllowed(db: Db, tenantId: string): Promise<boolean> {
  const row = await db
    .selectFrom('pki_settings')
    .select('bearer_tokens_allowed')
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  return Number(row?.bearer_tokens_allowed ?? 1) === 1;
}

export async function setBearerTokensAllowed(
  trx: Transaction<Database>,
  tenantId: string,
  allowed: boolean,
  at: string,
  by: string | null,
): Promise<void> {
  const value = allowed ? 1 : 0;
  await trx
    .insertInto('pki_settings')
    .values({ tenant_id: tenantId, bearer_tokens_allowed: value, updated_at: at, updated_by: by })
    .onConflict((oc) =>
      oc
        .column('tenant_id')
        .doUpdateSet({ bearer_tokens_allowed: value, updated_at: at, updated_by: by }),
    )
    .execute();
}

/** Replaces (or sets) the tenant's issuing CA with an imported one; the CRL number carries on. */
export async function upsertTenantCa(
  trx: Transaction<Database>,
  row: Database['pki_tenant_cas'],
): Promise<void> {
  await trx
    .insertInto('pki_tenant_cas')
    .values(row)
    .onConflict((oc) =>
      oc.column('tenant_id').doUpdateSet({
        certificate_pem: row.certificate_pem,
        chain_pem: row.chain_pem,
        private_key_box: row.private_key_box,
        fingerprint: row.fingerprint,
        source: row.source,
        not_after: row.not_after,
      }),
    )
    .execute();
}
