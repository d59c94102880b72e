import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from '../../db/database.js';
import './ddi.table.js';
import '../actions/action.table.js';
import '../devices/device.table.js';
import '../releases/release.table.js';

type Db = Kysely<Database> | Transaction<Database>;

/** A tenant's DDI settings as the API shows them. */
export interface DdiSettings {
  readonly autoRegister: boolean;
  readonly deviceClassId: string | null;
  readonly pollingSleepSeconds: number;
}

/** The tenant's DDI settings; `fallbackSleep` when the tenant never set any. */
export async function getDdiSettings(
  db: Db,
  tenantId: string,
  fallbackSleep: number,
): Promise<DdiSettings> {
  const row = await db
    .selectFrom('ddi_settings')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  if (row === undefined)
    return { autoRegister: false, deviceClassId: null, pollingSleepSeconds: fallbackSleep };
  return {
    autoRegister: Number(row.auto_register) === 1,
    deviceClassId: row.device_class_id,
    pollingSleepSeconds: Number(row.polling_sleep_seconds),
  };
}

/** Writes the tenant's DDI settings (one upsert). */
export async function putDdiSettings(
  trx: Transaction<Database>,
  tenantId: string,
  settings: DdiSettings,
  at: string,
): Promise<void> {
  const values = {
    auto_register: settings.autoRegister ? 1 : 0,
    device_class_id: settings.deviceClassId,
    polling_sleep_seconds: settings.pollingSleepSeconds,
    updated_at: at,
  };
  await trx
    .insertInto('ddi_settings')
    .values({ tenant_id: tenantId, ...values })
    .onConflict((oc) => oc.column('tenant_id').doUpdateSet(values))
    .execute();
}

/** A gateway token as the API lists it (never the token). */
export interface GatewayTokenView {
  readonly id: string;
  readonly name: string;
  readonly deviceClassId: string | null;
  readonly createdAt: string;
  readonly createdBy: string | null;
  readonly revokedAt: string | null;
}

/** Stores a new gateway token (its hash). */
export async function insertGatewayToken(
  trx: Transaction<Database>,
  row: Database['ddi_gateway_tokens'],
): Promise<void> {
  await trx.insertInto('ddi_gateway_tokens').values(row).execute();
}

/** The tenant's gateway tokens, newest first. */
export async function listGatewayTokens(db: Db, tenantId: string): Promise<GatewayTokenView[]> {
  const rows = await db
    .selectFrom('ddi_gateway_tokens')
    .select(['id', 'name', 'device_class_id', 'created_at', 'created_by', 'revoked_at'])
    .where('tenant_id', '=', tenantId)
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    deviceClassId: r.device_class_id,
    createdAt: r.created_at,
    createdBy: r.created_by,
    revokedAt: r.revoked_at,
  }));
}

/** Revokes a gateway token of the tenant; false when there is none (or another tenant's). */
export async function revokeGatewayToken(
  trx: Transaction<Database>,
  tenantId: string,
  id: string,
  at: string,
): Promise<boolean> {
  const r = await trx
    .updateTable('ddi_gateway_tokens')
    .set({ revoked_at: at })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** A live gateway token by its hash. */
export async function findGatewayToken(db: Db, tokenHash: string) {
  return db
    .selectFrom('ddi_gateway_tokens')
    .select(['id', 'tenant_id', 'device_class_id'])
    .where('token_hash', '=', tokenHash)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
}

/** The device named `name` in the tenant (a DDI controller id is a device name). */
export async function findControllerDevice(db: Db, tenantId: string, name: string) {
  return db
    .selectFrom('devices')
    .select(['id', 'device_class_id', 'admission', 'decommissioned_at'])
    .where('tenant_id', '=', tenantId)
    .where('name', '=', name)
    .executeTakeFirst();
}

/**
 * What the root poll shows, in two indexed statements: the device's open action (by the unique
 * `open_key`) with its DDI number, and the newest successful action with its number.
 */
export async function pollState(db: Db, tenantId: string, deviceId: string) {
  const open = await db
    .selectFrom('actions as a')
    .leftJoin('ddi_action_ids as n', 'n.action_id', 'a.id')
    .select(['a.id', 'a.cancel_requested', 'n.id as number'])
    .where('a.tenant_id', '=', tenantId)
    .where('a.open_key', '=', deviceId)
    .executeTakeFirst();
  const installed = await db
    .selectFrom('actions as a')
    .innerJoin('ddi_action_ids as n', 'n.action_id', 'a.id')
    .select(['a.id', 'n.id as number'])
    .where('a.tenant_id', '=', tenantId)
    .where('a.device_id', '=', deviceId)
    .where('a.state', '=', 'success')
    .orderBy('a.updated_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return { open, installed };
}

/**
 * Gives `actionId` its DDI number if it has none (the next integer, in one statement; two
 * replicas racing for the same number make one fail on the primary key, and it retries).
 */
export async function ensureActionNumber(
  db: Kysely<Database>,
  tenantId: string,
  actionId: string,
): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    try {
      await db
        .insertInto('ddi_action_ids')
        .columns(['id', 'tenant_id', 'action_id'])
        .expression((eb) =>
          eb
            .selectFrom('ddi_action_ids')
            .select((s) => [
              s(s.fn.coalesce(s.fn.max('id'), s.lit(0)), '+', s.lit(1)).as('id'),
              s.val(tenantId).as('tenant_id'),
              s.val(actionId).as('action_id'),
            ])
            // SQLite needs a WHERE before ON CONFLICT in INSERT … SELECT (its parsing ambiguity).
            .where(sql<boolean>`1 = 1`),
        )
        .onConflict((oc) => oc.column('action_id').doNothing())
        .execute();
      break;
    } catch (error) {
      if (attempt >= 4) throw error;
    }
  }
  const row = await db
    .selectFrom('ddi_action_ids')
    .select('id')
    .where('action_id', '=', actionId)
    .executeTakeFirstOrThrow();
  return Number(row.id);
}

/** The device's own action with DDI number `number`, with its release (another's: undefined). */
export async function findDeviceActionByNumber(
  db: Db,
  tenantId: string,
  deviceId: string,
  number: number,
) {
  return db
    .selectFrom('ddi_action_ids as n')
    .innerJoin('actions as a', 'a.id', 'n.action_id')
    .innerJoin('releases as r', 'r.id', 'a.release_id')
    .select([
      'n.id as number',
      'a.id',
      'a.state',
      'a.cancel_requested',
      'a.open_key',
      'a.action_type',
      'a.force_after',
      'a.maintenance_window',
      'a.recurring_window',
      'r.id as releaseId',
      'r.version',
      'r.text',
    ])
    .where('n.id', '=', number)
    .where('n.tenant_id', '=', tenantId)
    .where('a.tenant_id', '=', tenantId)
    .where('a.device_id', '=', deviceId)
    .executeTakeFirst();
}

/** The latest events of an action, newest first (DDI's `actionHistory`). */
export async function latestActionMessages(
  db: Db,
  tenantId: string,
  actionId: string,
  limit: number,
) {
  return db
    .selectFrom('action_events')
    .select(['at', 'status', 'message'])
    .where('tenant_id', '=', tenantId)
    .where('action_id', '=', actionId)
    .orderBy('at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
}

/** A release's payloads with every digest and the file name DDI offers them under. */
export async function ddiPayloads(db: Db, tenantId: string, releaseId: string) {
  return db
    .selectFrom('release_payloads')
    .select(['component_id', 'sha256', 'sha1', 'md5', 'size', 'file_name'])
    .where('tenant_id', '=', tenantId)
    .where('release_id', '=', releaseId)
    .orderBy('component_id')
    .execute();
}

/**
 * Whether the device has (or had) an action deploying `releaseId`, so it may fetch the release's
 * artifacts with its own credential.
 */
export async function deviceHasRelease(
  db: Db,
  tenantId: string,
  deviceId: string,
  releaseId: string,
): Promise<boolean> {
  const row = await db
    .selectFrom('actions as a')
    .innerJoin('releases as r', 'r.id', 'a.release_id')
    .select('a.id')
    .where('a.tenant_id', '=', tenantId)
    .where('a.device_id', '=', deviceId)
    .where('a.release_id', '=', releaseId)
    .where('r.deleted_at', 'is', null)
    .executeTakeFirst();
  return row !== undefined;
}

/** How `configData` changes the reported attributes (hawkBit's `mode`). */
export const CONFIG_DATA_MODES = ['merge', 'replace', 'remove'] as const;
export type ConfigDataMode = (typeof CONFIG_DATA_MODES)[number];

/**
 * Applies DDI `configData` to the device's `reported` attributes (custom ones are untouched):
 * `merge` sets the given names, `replace` makes them the whole set, `remove` deletes them.
 */
export async function applyConfigData(
  trx: Transaction<Database>,
  tenantId: string,
  deviceId: string,
  data: Readonly<Record<string, string>>,
  mode: ConfigDataMode,
): Promise<void> {
  const names = Object.keys(data);
  let del = trx
    .deleteFrom('device_attributes')
    .where('tenant_id', '=', tenantId)
    .where('device_id', '=', deviceId)
    .where('source', '=', 'reported');
  if (mode !== 'replace') {
    if (names.length === 0) return;
    del = del.where('name', 'in', names);
  }
  await del.execute();
  if (mode === 'remove' || names.length === 0) return;
  await trx
    .insertInto('device_attributes')
    .values(
      names.map((name) => ({
        tenant_id: tenantId,
        device_id: deviceId,
        name,
        source: 'reported',
        type: 'string',
        value: data[name] as string,
      })),
    )
    .execute();
}
