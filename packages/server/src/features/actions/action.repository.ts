import type { Kysely, Transaction } from 'kysely';
import { newId } from '../../auth/secrets.js';
import type { Database } from '../../db/database.js';
import { semverKey } from '../filters/semver-key.js';
import type { ActionEventTable, ActionTable } from './action.table.js';
import './action.table.js';
import '../releases/release.table.js';

type Db = Kysely<Database> | Transaction<Database>;

/** One event to append to an action's history. */
export interface NewActionEvent {
  readonly source: 'server' | 'device';
  readonly status: string;
  readonly progress?: number | null;
  readonly code?: string | null;
  readonly message?: string | null;
  readonly reportId?: string | null;
  readonly actorId?: string | null;
}

/** An installed component as a successful action leaves it on the device. */
export interface InstalledByAction {
  readonly componentId: string;
  readonly version: string;
  readonly sequenceNumber: number;
  readonly digest: string | null;
}

// Event ids sort by time, then randomness: history reads back in insertion order.
function eventId(at: string): string {
  return `${newId(`evt_${at.replaceAll(/[-:.TZ]/g, '')}`)}`;
}

/** The tenant's action, or undefined; with `deviceId`, only if it is that device's. */
export async function findAction(
  db: Db,
  tenantId: string,
  actionId: string,
  deviceId?: string,
): Promise<ActionTable | undefined> {
  return db
    .selectFrom('actions')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('id', '=', actionId)
    .$if(deviceId !== undefined, (q) => q.where('device_id', '=', deviceId!))
    .executeTakeFirst();
}

/** A device's actions, newest first. */
export async function listDeviceActions(
  db: Db,
  tenantId: string,
  deviceId: string,
  limit: number,
): Promise<ActionTable[]> {
  return db
    .selectFrom('actions')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('device_id', '=', deviceId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
}

/** An action's events in the order they happened. */
export async function listActionEvents(
  db: Db,
  tenantId: string,
  actionId: string,
): Promise<ActionEventTable[]> {
  return db
    .selectFrom('action_events')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('action_id', '=', actionId)
    .orderBy('at')
    .orderBy('id')
    .execute();
}

/** Number of actions per state, for the metrics gauge. */
export async function countActionsByState(db: Db): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('actions')
    .select(['state', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('state')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
}

/** The device as an assignment needs it (class, decommissioned or not). */
export async function findDeviceForAssignment(
  db: Db,
  tenantId: string,
  idOrName: string,
): Promise<{ id: string; device_class_id: string; decommissioned_at: string | null } | undefined> {
  // A device id or name, as everywhere a device is named (an id wins over another's equal name).
  const rows = await db
    .selectFrom('devices')
    .select(['id', 'device_class_id', 'decommissioned_at'])
    .where('tenant_id', '=', tenantId)
    .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
    .limit(2)
    .execute();
  return rows.find((r) => r.id === idOrName) ?? rows[0];
}

/** The kids among `kids` that are revoked for the class. */
export async function revokedKids(
  db: Db,
  tenantId: string,
  deviceClassId: string,
  kids: readonly string[],
): Promise<string[]> {
  const rows = await db
    .selectFrom('trusted_keys')
    .select('kid')
    .where('tenant_id', '=', tenantId)
    .where('device_class_id', '=', deviceClassId)
    .where('kid', 'in', [...kids, ''])
    .where('revoked_at', 'is not', null)
    .execute();
  return rows.map((r) => r.kid);
}

/** The installed components the device reported (or a success recorded), by component id. */
export async function installedSequenceNumbers(
  db: Db,
  tenantId: string,
  deviceId: string,
): Promise<{ componentId: string; sequenceNumber: number | null }[]> {
  const rows = await db
    .selectFrom('device_components')
    .select(['component_id', 'sequence_number'])
    .where('tenant_id', '=', tenantId)
    .where('device_id', '=', deviceId)
    .execute();
  return rows.map((r) => ({
    componentId: r.component_id,
    sequenceNumber: r.sequence_number === null ? null : Number(r.sequence_number),
  }));
}

/** The device's open action's id, if any. */
export async function findOpenActionId(
  db: Db,
  tenantId: string,
  deviceId: string,
): Promise<string | undefined> {
  const row = await db
    .selectFrom('actions')
    .select('id')
    .where('tenant_id', '=', tenantId)
    .where('open_key', '=', deviceId)
    .executeTakeFirst();
  return row?.id;
}

/** Inserts a new action row. */
export async function insertAction(trx: Transaction<Database>, row: ActionTable): Promise<void> {
  await trx.insertInto('actions').values(row).execute();
}

/**
 * Writes `after` over `before`, optimistically: the WHERE on the old revision makes a concurrent
 * change lose instead of overwrite. False when it lost.
 */
export async function updateAction(
  trx: Transaction<Database>,
  before: ActionTable,
  after: ActionTable,
): Promise<boolean> {
  const r = await trx
    .updateTable('actions')
    .set({
      state: after.state,
      cancel_requested: after.cancel_requested,
      open_key: after.open_key,
      revision: after.revision,
      updated_at: after.updated_at,
    })
    .where('id', '=', before.id)
    .where('revision', '=', before.revision)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** Appends one event to an action's history. */
export async function insertActionEvent(
  trx: Transaction<Database>,
  action: Pick<ActionTable, 'id' | 'tenant_id'>,
  at: string,
  e: NewActionEvent,
): Promise<void> {
  await trx
    .insertInto('action_events')
    .values({
      id: eventId(at),
      tenant_id: action.tenant_id,
      action_id: action.id,
      at,
      source: e.source,
      status: e.status,
      progress: e.progress ?? null,
      code: e.code ?? null,
      message: e.message ?? null,
      report_id: e.reportId ?? null,
      actor_id: e.actorId ?? null,
    })
    .execute();
}

/** True when the action already recorded a report with this id (a replay). */
export async function reportSeen(db: Db, actionId: string, reportId: string): Promise<boolean> {
  const hit = await db
    .selectFrom('action_events')
    .select('id')
    .where('action_id', '=', actionId)
    .where('report_id', '=', reportId)
    .executeTakeFirst();
  return hit !== undefined;
}

/**
 * The open actions of a class whose release lists `kid` among its signers. `signer_kids` is a
 * JSON array of hex kids, so the LIKE narrows and the caller checks the parsed list exactly.
 */
export async function openActionsSignedBy(
  trx: Transaction<Database>,
  tenantId: string,
  deviceClassId: string,
  kid: string,
): Promise<ActionTable[]> {
  const rows = await trx
    .selectFrom('actions as a')
    .innerJoin('releases as r', (j) =>
      j.onRef('r.id', '=', 'a.release_id').onRef('r.tenant_id', '=', 'a.tenant_id'),
    )
    .selectAll('a')
    .select('r.signer_kids')
    .where('a.tenant_id', '=', tenantId)
    .where('a.open_key', 'is not', null)
    .where('r.device_class_id', '=', deviceClassId)
    .where('r.signer_kids', 'like', `%${JSON.stringify(kid).replaceAll(/[%_\\]/g, '')}%`)
    .orderBy('a.id')
    .execute();
  return rows
    .filter((r) => (JSON.parse(r.signer_kids) as string[]).includes(kid))
    .map(({ signer_kids: _, ...action }) => action);
}

/**
 * Records what a successful action installed: the release's components (version, sequence
 * number, image digest) replace the device's rows for those components, and the device was
 * seen now. The stored report digest stays: a device repeating its pre-update report word for
 * word does not undo this, while any report that differs replaces these rows (its own view).
 */
export async function recordInstalled(
  trx: Transaction<Database>,
  tenantId: string,
  deviceId: string,
  components: readonly InstalledByAction[],
  at: string,
): Promise<void> {
  if (components.length > 0) {
    await trx
      .deleteFrom('device_components')
      .where('tenant_id', '=', tenantId)
      .where('device_id', '=', deviceId)
      .where(
        'component_id',
        'in',
        components.map((c) => c.componentId),
      )
      .execute();
    await trx
      .insertInto('device_components')
      .values(
        components.map((c) => ({
          tenant_id: tenantId,
          device_id: deviceId,
          component_id: c.componentId,
          version: c.version,
          sequence_number: c.sequenceNumber,
          digest: c.digest,
          updated_at: at,
          version_key: c.version === null ? null : (semverKey(c.version) ?? null),
        })),
      )
      .execute();
  }
  await trx
    .updateTable('devices')
    .set({ last_seen_at: at })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', deviceId)
    .where((eb) => eb.or([eb('last_seen_at', 'is', null), eb('last_seen_at', '<', at)]))
    .execute();
}
