import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../../db/database.js';
import type { MenderAuthSetTable } from './mender.table.js';
import '../devices/device.table.js';
import '../actions/action.table.js';
import '../releases/release.table.js';
import '../device-classes/device-class.table.js';

type Db = Kysely<Database> | Transaction<Database>;

/** An auth set with its device's state, as the auth request and the JWT check need it. */
export interface AuthSetWithDevice extends MenderAuthSetTable {
  readonly device_name: string;
  readonly device_class_id: string;
  readonly admission: string;
  readonly decommissioned_at: string | null;
}

function withDevice(db: Db) {
  return db
    .selectFrom('mender_auth_sets as m')
    .innerJoin('devices as d', (j) =>
      j.onRef('d.id', '=', 'm.device_id').onRef('d.tenant_id', '=', 'm.tenant_id'),
    )
    .selectAll('m')
    .select(['d.name as device_name', 'd.device_class_id', 'd.admission', 'd.decommissioned_at']);
}

/** The auth sets of one identity (every key it presented), with the device. */
export async function authSetsOfIdentity(
  db: Db,
  tenantId: string,
  idDataDigest: string,
): Promise<AuthSetWithDevice[]> {
  return withDevice(db)
    .where('m.tenant_id', '=', tenantId)
    .where('m.id_data_digest', '=', idDataDigest)
    .execute();
}

/** The auth set a token names, if its device is accepted and live (one indexed statement). */
export async function acceptedAuthSet(
  db: Db,
  tenantId: string,
  authSetId: string,
  deviceId: string,
): Promise<{ deviceClassId: string } | undefined> {
  const row = await db
    .selectFrom('mender_auth_sets as m')
    .innerJoin('devices as d', (j) =>
      j.onRef('d.id', '=', 'm.device_id').onRef('d.tenant_id', '=', 'm.tenant_id'),
    )
    .select('d.device_class_id as deviceClassId')
    .where('m.id', '=', authSetId)
    .where('m.tenant_id', '=', tenantId)
    .where('m.device_id', '=', deviceId)
    .where('m.status', '=', 'accepted')
    .where('d.admission', '=', 'accepted')
    .where('d.decommissioned_at', 'is', null)
    .executeTakeFirst();
  return row;
}

/** Sets an auth set's status. */
export async function setAuthSetStatus(
  trx: Transaction<Database>,
  id: string,
  status: string,
  at: string,
): Promise<void> {
  await trx
    .updateTable('mender_auth_sets')
    .set({ status, updated_at: at })
    .where('id', '=', id)
    .execute();
}

/** Inserts an auth set. */
export async function insertAuthSet(
  trx: Transaction<Database>,
  row: MenderAuthSetTable,
): Promise<void> {
  await trx.insertInto('mender_auth_sets').values(row).execute();
}

/** Lists a tenant's auth sets, newest first (bounded), optionally of one status. */
export async function listAuthSets(
  db: Db,
  tenantId: string,
  status: string | undefined,
  limit: number,
): Promise<AuthSetWithDevice[]> {
  let q = withDevice(db).where('m.tenant_id', '=', tenantId);
  if (status !== undefined) q = q.where('m.status', '=', status);
  return q.orderBy('m.created_at', 'desc').orderBy('m.id').limit(limit).execute();
}

/** Id of the tenant's device class with this id or name. */
export async function findDeviceClassId(
  db: Db,
  tenantId: string,
  ref: string,
): Promise<string | undefined> {
  const row = await db
    .selectFrom('device_classes')
    .select('id')
    .where('tenant_id', '=', tenantId)
    .where((eb) => eb.or([eb('id', '=', ref), eb('name', '=', ref)]))
    .executeTakeFirst();
  return row?.id;
}

/** The device's open action and, when its release has one, a `.mender` payload. */
export interface OpenMenderAction {
  readonly actionId: string;
  readonly state: string;
  readonly cancelRequested: boolean;
  readonly version: string;
  readonly sha256: string | null;
  readonly size: number | null;
}

/** One statement: the open action (by the unique open_key) left-joined to its .mender payload. */
export async function openMenderAction(
  db: Db,
  tenantId: string,
  deviceId: string,
): Promise<OpenMenderAction | undefined> {
  const row = await db
    .selectFrom('actions as a')
    .innerJoin('releases as r', (j) =>
      j.onRef('r.id', '=', 'a.release_id').onRef('r.tenant_id', '=', 'a.tenant_id'),
    )
    .leftJoin('release_payloads as p', (j) =>
      j
        .onRef('p.release_id', '=', 'r.id')
        .onRef('p.tenant_id', '=', 'r.tenant_id')
        .on('p.file_name', 'like', '%.mender'),
    )
    .select([
      'a.id as actionId',
      'a.state',
      'a.cancel_requested as cancelRequested',
      'r.version',
      'p.sha256',
      'p.size',
    ])
    .where('a.tenant_id', '=', tenantId)
    .where('a.open_key', '=', deviceId)
    .orderBy('p.component_id')
    .limit(1)
    .executeTakeFirst();
  if (row === undefined) return undefined;
  return {
    actionId: row.actionId,
    state: row.state,
    cancelRequested: Number(row.cancelRequested) === 1,
    version: row.version,
    sha256: row.sha256 ?? null,
    size: row.size === null || row.size === undefined ? null : Number(row.size),
  };
}

/** A reported attribute as stored (`device_attributes`, source `reported`). */
export interface ReportedAttribute {
  readonly name: string;
  readonly type: 'string' | 'number' | 'boolean';
  readonly value: string;
}

/**
 * Writes reported attributes set-based: `replace` drops every reported attribute first (PUT),
 * otherwise only the named ones are replaced (PATCH).
 */
export async function writeReportedAttributes(
  trx: Transaction<Database>,
  tenantId: string,
  deviceId: string,
  attributes: readonly ReportedAttribute[],
  replace: boolean,
): Promise<void> {
  let del = trx
    .deleteFrom('device_attributes')
    .where('tenant_id', '=', tenantId)
    .where('device_id', '=', deviceId)
    .where('source', '=', 'reported');
  if (!replace) {
    if (attributes.length === 0) return;
    del = del.where(
      'name',
      'in',
      attributes.map((a) => a.name),
    );
  }
  await del.execute();
  if (attributes.length > 0)
    await trx
      .insertInto('device_attributes')
      .values(
        attributes.map((a) => ({
          tenant_id: tenantId,
          device_id: deviceId,
          name: a.name,
          source: 'reported',
          type: a.type,
          value: a.value,
        })),
      )
      .execute();
}
