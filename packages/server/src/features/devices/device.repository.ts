import {
  type Expression,
  type ExpressionBuilder,
  type Kysely,
  type SqlBool,
  sql,
  type Transaction,
} from 'kysely';
import { hashToken, newId, newToken } from '../../auth/secrets.js';
import type { Database } from '../../db/database.js';
import { filterCondition, type ResolvedFilter } from '../filters/filter.repository.js';
import { semverKey } from '../filters/semver-key.js';
import './device.table.js';

type Db = Kysely<Database> | Transaction<Database>;

/** A device attribute value (reported by the device or set by an operator). */
export type AttributeValue = string | number | boolean;

/** Attribute names: printable, no separators used by the list filter syntax. */
export const ATTRIBUTE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** A device in lists. */
export interface DeviceSummary {
  readonly id: string;
  readonly name: string;
  readonly deviceClassId: string;
  readonly createdAt: string;
  readonly lastSeenAt: string | null;
  readonly decommissionedAt: string | null;
  readonly tags: string[];
}

/** A component as the device last reported it. */
export interface InstalledComponent {
  readonly id: string;
  readonly version: string | null;
  readonly sequenceNumber: number | null;
  readonly digest: string | null;
  readonly updatedAt: string;
}

/** One device with everything the platform knows about it. */
export interface DeviceDetail extends DeviceSummary {
  readonly attributes: {
    readonly reported: Record<string, AttributeValue>;
    readonly custom: Record<string, AttributeValue>;
  };
  readonly components: InstalledComponent[];
}

/** What a pre-registration gives. */
export interface NewDevice {
  readonly name: string;
  readonly deviceClassId: string;
  readonly attributes?: Readonly<Record<string, AttributeValue>>;
  readonly tags?: readonly string[];
}

function encode(value: AttributeValue): { type: string; value: string } {
  return { type: typeof value, value: String(value) };
}

function decode(type: string, value: string): AttributeValue {
  if (type === 'number') return Number(value);
  if (type === 'boolean') return value === 'true';
  return value;
}

/**
 * Inserts devices with their custom attributes, tags and one bearer token each, in bulk. Returns
 * each device's token (shown once; only its hash is stored).
 */
export async function createDevices(
  trx: Transaction<Database>,
  tenantId: string,
  inputs: readonly NewDevice[],
  now: string,
): Promise<Array<{ device: DeviceSummary; token: string }>> {
  if (inputs.length === 0) return [];
  const created = inputs.map((input) => ({ id: newId('dev'), token: newToken('device'), input }));
  await trx
    .insertInto('devices')
    .values(
      created.map(({ id, input }) => ({
        id,
        tenant_id: tenantId,
        name: input.name,
        device_class_id: input.deviceClassId,
        created_at: now,
        last_seen_at: null,
        decommissioned_at: null,
      })),
    )
    .execute();
  await trx
    .insertInto('device_tokens')
    .values(
      created.map(({ id, token }) => ({
        id: newId('dtk'),
        tenant_id: tenantId,
        device_id: id,
        token_hash: hashToken(token),
        created_at: now,
        revoked_at: null,
      })),
    )
    .execute();
  const attributes = created.flatMap(({ id, input }) =>
    Object.entries(input.attributes ?? {}).map(([name, v]) => ({
      tenant_id: tenantId,
      device_id: id,
      name,
      source: 'custom',
      ...encode(v),
    })),
  );
  if (attributes.length > 0) await trx.insertInto('device_attributes').values(attributes).execute();
  const tags = created.flatMap(({ id, input }) =>
    [...new Set(input.tags ?? [])].map((tag) => ({ tenant_id: tenantId, device_id: id, tag })),
  );
  if (tags.length > 0) await trx.insertInto('device_tags').values(tags).execute();
  return created.map(({ id, token, input }) => ({
    token,
    device: {
      id,
      name: input.name,
      deviceClassId: input.deviceClassId,
      createdAt: now,
      lastSeenAt: null,
      decommissionedAt: null,
      tags: [...new Set(input.tags ?? [])].sort(),
    },
  }));
}

/** Which of `names` already exist in this tenant. */
export async function existingDeviceNames(
  db: Db,
  tenantId: string,
  names: readonly string[],
): Promise<Set<string>> {
  if (names.length === 0) return new Set();
  const rows = await db
    .selectFrom('devices')
    .select('name')
    .where('tenant_id', '=', tenantId)
    .where('name', 'in', [...names])
    .execute();
  return new Set(rows.map((r) => r.name));
}

/** Sort keys of {@link listDevices}. */
export const DEVICE_SORTS = ['name', 'createdAt', 'lastSeenAt'] as const;
export type DeviceSort = (typeof DEVICE_SORTS)[number];

/** Filters, sort and page of {@link listDevices}. */
export interface DeviceQuery {
  readonly deviceClassId?: string;
  /** Every tag must be present. */
  readonly tags?: readonly string[];
  /** Every attribute (reported or custom) must have this text value. */
  readonly attributes?: ReadonlyArray<{ readonly name: string; readonly value: string }>;
  /** `active` (default: both), `decommissioned`. */
  readonly state?: 'active' | 'decommissioned';
  /** Name prefix. */
  readonly namePrefix?: string;
  /** A target filter (docs/filters.md), checked and resolved by the DeviceFilterService. */
  readonly filter?: ResolvedFilter;
  readonly sort: DeviceSort;
  readonly order: 'asc' | 'desc';
  readonly limit: number;
  readonly offset: number;
}

function filters(tenantId: string, query: DeviceQuery) {
  return (eb: ExpressionBuilder<Database, 'devices'>): Expression<SqlBool> => {
    const all: Expression<SqlBool>[] = [eb('devices.tenant_id', '=', tenantId)];
    if (query.deviceClassId) all.push(eb('devices.device_class_id', '=', query.deviceClassId));
    if (query.state === 'active') all.push(eb('devices.decommissioned_at', 'is', null));
    if (query.state === 'decommissioned') all.push(eb('devices.decommissioned_at', 'is not', null));
    if (query.filter) all.push(filterCondition(tenantId, query.filter)(eb));
    if (query.namePrefix) {
      // Escape LIKE wildcards so a prefix is taken literally on both dialects.
      const escaped = query.namePrefix.replaceAll(/[\\%_]/g, (c) => `\\${c}`);
      all.push(sql<SqlBool>`${eb.ref('devices.name')} like ${`${escaped}%`} escape '\\'`);
    }
    for (const tag of query.tags ?? []) {
      all.push(
        eb.exists(
          eb
            .selectFrom('device_tags as t')
            .select(sql`1`.as('one'))
            .whereRef('t.device_id', '=', 'devices.id')
            .where('t.tenant_id', '=', tenantId)
            .where('t.tag', '=', tag),
        ),
      );
    }
    for (const attribute of query.attributes ?? []) {
      all.push(
        eb.exists(
          eb
            .selectFrom('device_attributes as a')
            .select(sql`1`.as('one'))
            .whereRef('a.device_id', '=', 'devices.id')
            .where('a.tenant_id', '=', tenantId)
            .where('a.name', '=', attribute.name)
            .where('a.value', '=', attribute.value),
        ),
      );
    }
    return eb.and(all);
  };
}

async function tagsOf(
  db: Db,
  tenantId: string,
  deviceIds: readonly string[],
): Promise<Map<string, string[]>> {
  const map = new Map<string, string[]>();
  if (deviceIds.length === 0) return map;
  const rows = await db
    .selectFrom('device_tags')
    .select(['device_id', 'tag'])
    .where('tenant_id', '=', tenantId)
    .where('device_id', 'in', [...deviceIds])
    .orderBy('tag')
    .execute();
  for (const row of rows) map.set(row.device_id, [...(map.get(row.device_id) ?? []), row.tag]);
  return map;
}

/** One page of a tenant's devices matching `query` (set-based SQL), and the total count. */
export async function listDevices(
  db: Db,
  tenantId: string,
  query: DeviceQuery,
): Promise<{ items: DeviceSummary[]; total: number }> {
  const where = filters(tenantId, query);
  const column = {
    name: 'devices.name',
    createdAt: 'devices.created_at',
    lastSeenAt: 'devices.last_seen_at',
  } as const;
  const sortColumn = column[query.sort];
  const rows = await db
    .selectFrom('devices')
    .selectAll('devices')
    .where(where)
    // NULLs last in both orders and on both dialects (they disagree by default).
    .orderBy(sql`case when ${sql.ref(sortColumn)} is null then 1 else 0 end`)
    .orderBy(sortColumn, query.order)
    .orderBy('devices.id', query.order)
    .limit(query.limit)
    .offset(query.offset)
    .execute();
  const count = await db
    .selectFrom('devices')
    .select((eb) => eb.fn.countAll().as('n'))
    .where(where)
    .executeTakeFirstOrThrow();
  const tags = await tagsOf(
    db,
    tenantId,
    rows.map((r) => r.id),
  );
  return {
    total: Number(count.n),
    items: rows.map((r) => ({
      id: r.id,
      name: r.name,
      deviceClassId: r.device_class_id,
      createdAt: r.created_at,
      lastSeenAt: r.last_seen_at,
      decommissionedAt: r.decommissioned_at,
      tags: tags.get(r.id) ?? [],
    })),
  };
}

/**
 * The id of the tenant's device whose id or, failing that, name is `idOrName` (an id wins over
 * another device's equal name); undefined when neither matches.
 */
export async function findDeviceId(
  db: Db,
  tenantId: string,
  idOrName: string,
): Promise<string | undefined> {
  const rows = await db
    .selectFrom('devices')
    .select(['id', 'name'])
    .where('tenant_id', '=', tenantId)
    .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
    .execute();
  return (rows.find((r) => r.id === idOrName) ?? rows[0])?.id;
}

/** One device with attributes, tags and components, or undefined when not in this tenant. */
export async function getDevice(
  db: Db,
  tenantId: string,
  deviceId: string,
): Promise<DeviceDetail | undefined> {
  const row = await db
    .selectFrom('devices')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('id', '=', deviceId)
    .executeTakeFirst();
  if (!row) return undefined;
  const attributes = await db
    .selectFrom('device_attributes')
    .select(['name', 'type', 'value', 'source'])
    .where('tenant_id', '=', tenantId)
    .where('device_id', '=', deviceId)
    .orderBy('name')
    .execute();
  const components = await db
    .selectFrom('device_components')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('device_id', '=', deviceId)
    .orderBy('component_id')
    .execute();
  const reported: Record<string, AttributeValue> = {};
  const custom: Record<string, AttributeValue> = {};
  for (const a of attributes)
    (a.source === 'custom' ? custom : reported)[a.name] = decode(a.type, a.value);
  return {
    id: row.id,
    name: row.name,
    deviceClassId: row.device_class_id,
    createdAt: row.created_at,
    lastSeenAt: row.last_seen_at,
    decommissionedAt: row.decommissioned_at,
    tags: (await tagsOf(db, tenantId, [deviceId])).get(deviceId) ?? [],
    attributes: { reported, custom },
    components: components.map((c) => ({
      id: c.component_id,
      version: c.version,
      sequenceNumber: c.sequence_number === null ? null : Number(c.sequence_number),
      digest: c.digest,
      updatedAt: c.updated_at,
    })),
  };
}

async function replaceAttributes(
  trx: Transaction<Database>,
  tenantId: string,
  deviceId: string,
  source: 'custom' | 'reported',
  values: Readonly<Record<string, AttributeValue>>,
): Promise<void> {
  await trx
    .deleteFrom('device_attributes')
    .where('tenant_id', '=', tenantId)
    .where('device_id', '=', deviceId)
    .where('source', '=', source)
    .execute();
  const rows = Object.entries(values).map(([name, v]) => ({
    tenant_id: tenantId,
    device_id: deviceId,
    name,
    source,
    ...encode(v),
  }));
  if (rows.length > 0) await trx.insertInto('device_attributes').values(rows).execute();
}

/** True when the device exists in this tenant (guards writes to child tables). */
async function ownsDevice(
  trx: Transaction<Database>,
  tenantId: string,
  deviceId: string,
): Promise<boolean> {
  const row = await trx
    .selectFrom('devices')
    .select('id')
    .where('tenant_id', '=', tenantId)
    .where('id', '=', deviceId)
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * Merges operator-set attributes into a device's custom attributes (`null` removes one). False
 * when the device is not in this tenant (nothing written).
 */
export async function updateCustomAttributes(
  trx: Transaction<Database>,
  tenantId: string,
  deviceId: string,
  changes: Readonly<Record<string, AttributeValue | null>>,
): Promise<boolean> {
  if (!(await ownsDevice(trx, tenantId, deviceId))) return false;
  const current = await trx
    .selectFrom('device_attributes')
    .select(['name', 'type', 'value'])
    .where('tenant_id', '=', tenantId)
    .where('device_id', '=', deviceId)
    .where('source', '=', 'custom')
    .execute();
  const next: Record<string, AttributeValue> = Object.fromEntries(
    current.map((a) => [a.name, decode(a.type, a.value)]),
  );
  for (const [name, value] of Object.entries(changes)) {
    if (value === null) delete next[name];
    else next[name] = value;
  }
  await replaceAttributes(trx, tenantId, deviceId, 'custom', next);
  return true;
}

/** Replaces a device's tags; false when the device is not in this tenant (nothing written). */
export async function setDeviceTags(
  trx: Transaction<Database>,
  tenantId: string,
  deviceId: string,
  tags: readonly string[],
): Promise<boolean> {
  if (!(await ownsDevice(trx, tenantId, deviceId))) return false;
  await trx
    .deleteFrom('device_tags')
    .where('tenant_id', '=', tenantId)
    .where('device_id', '=', deviceId)
    .execute();
  const unique = [...new Set(tags)];
  if (unique.length > 0)
    await trx
      .insertInto('device_tags')
      .values(unique.map((tag) => ({ tenant_id: tenantId, device_id: deviceId, tag })))
      .execute();
  return true;
}

/**
 * Revokes a device's tokens and issues a new one (returned once). Undefined when the device is not
 * in this tenant or is decommissioned.
 */
export async function rotateDeviceToken(
  trx: Transaction<Database>,
  tenantId: string,
  deviceId: string,
  now: string,
): Promise<string | undefined> {
  const device = await trx
    .selectFrom('devices')
    .select('id')
    .where('tenant_id', '=', tenantId)
    .where('id', '=', deviceId)
    .where('decommissioned_at', 'is', null)
    .executeTakeFirst();
  if (!device) return undefined;
  await revokeDeviceTokens(trx, tenantId, deviceId, now);
  const token = newToken('device');
  await trx
    .insertInto('device_tokens')
    .values({
      id: newId('dtk'),
      tenant_id: tenantId,
      device_id: deviceId,
      token_hash: hashToken(token),
      created_at: now,
      revoked_at: null,
    })
    .execute();
  return token;
}

/** Revokes every live token of a device (rotation and decommission). */
async function revokeDeviceTokens(
  trx: Transaction<Database>,
  tenantId: string,
  deviceId: string,
  now: string,
): Promise<void> {
  await trx
    .updateTable('device_tokens')
    .set({ revoked_at: now })
    .where('tenant_id', '=', tenantId)
    .where('device_id', '=', deviceId)
    .where('revoked_at', 'is', null)
    .execute();
}

/**
 * Decommissions a device: marks it, revokes all its credentials; its history stays. False when
 * not found in this tenant or already decommissioned.
 */
export async function decommissionDevice(
  trx: Transaction<Database>,
  tenantId: string,
  deviceId: string,
  now: string,
): Promise<boolean> {
  const result = await trx
    .updateTable('devices')
    .set({ decommissioned_at: now })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', deviceId)
    .where('decommissioned_at', 'is', null)
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) === 0) return false;
  await revokeDeviceTokens(trx, tenantId, deviceId, now);
  return true;
}

/** A component report from a device check-in. */
export interface ReportedComponent {
  readonly id: string;
  readonly version: string | null;
  readonly sequenceNumber: number | null;
  readonly digest: string | null;
}

/**
 * Replaces what a device reported: its installed components and its `reported` attributes (custom
 * attributes are untouched). Used by the device API's check-in. False when the device is not in
 * this tenant (nothing written).
 */
export async function setReportedState(
  trx: Transaction<Database>,
  tenantId: string,
  deviceId: string,
  report: {
    readonly components: readonly ReportedComponent[];
    readonly attributes: Readonly<Record<string, AttributeValue>>;
  },
  now: string,
): Promise<boolean> {
  if (!(await ownsDevice(trx, tenantId, deviceId))) return false;
  await trx
    .deleteFrom('device_components')
    .where('tenant_id', '=', tenantId)
    .where('device_id', '=', deviceId)
    .execute();
  if (report.components.length > 0) {
    await trx
      .insertInto('device_components')
      .values(
        report.components.map((c) => ({
          tenant_id: tenantId,
          device_id: deviceId,
          component_id: c.id,
          version: c.version,
          sequence_number: c.sequenceNumber,
          digest: c.digest,
          updated_at: now,
          version_key: c.version === null ? null : (semverKey(c.version) ?? null),
        })),
      )
      .execute();
  }
  await replaceAttributes(trx, tenantId, deviceId, 'reported', report.attributes);
  return true;
}

/** Records that devices were seen at `at` (one statement for a whole batch). */
export async function touchLastSeen(
  db: Db,
  tenantId: string,
  deviceIds: readonly string[],
  at: string,
): Promise<void> {
  if (deviceIds.length === 0) return;
  await db
    .updateTable('devices')
    .set({ last_seen_at: at })
    .where('tenant_id', '=', tenantId)
    .where('id', 'in', [...deviceIds])
    .where((eb) => eb.or([eb('last_seen_at', 'is', null), eb('last_seen_at', '<', at)]))
    .execute();
}

/** Ids per statement of a bulk change (well under every dialect's bound-parameter limit). */
const BULK_CHUNK = 500;

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += BULK_CHUNK) out.push(items.slice(i, i + BULK_CHUNK));
  return out;
}

/** Adds tags to many devices (tags they have are skipped); the number of tags added. */
export async function addTagsToDevices(
  trx: Transaction<Database>,
  tenantId: string,
  deviceIds: readonly string[],
  tags: readonly string[],
): Promise<number> {
  let added = 0;
  for (const ids of chunks(deviceIds)) {
    for (const tag of new Set(tags)) {
      const result = await trx
        .insertInto('device_tags')
        .columns(['tenant_id', 'device_id', 'tag'])
        .expression((eb) =>
          eb
            .selectFrom('devices')
            .select([
              eb.val(tenantId).as('tenant_id'),
              'devices.id as device_id',
              eb.val(tag).as('tag'),
            ])
            .where('devices.tenant_id', '=', tenantId)
            .where('devices.id', 'in', ids)
            .where(({ not, exists, selectFrom }) =>
              not(
                exists(
                  selectFrom('device_tags as t')
                    .select('t.tag')
                    .where('t.tenant_id', '=', tenantId)
                    .whereRef('t.device_id', '=', 'devices.id')
                    .where('t.tag', '=', tag),
                ),
              ),
            ),
        )
        .executeTakeFirst();
      added += Number(result.numInsertedOrUpdatedRows ?? 0);
    }
  }
  return added;
}

/** Removes tags from many devices; the number of tags removed. */
export async function removeTagsFromDevices(
  trx: Transaction<Database>,
  tenantId: string,
  deviceIds: readonly string[],
  tags: readonly string[],
): Promise<number> {
  let removed = 0;
  for (const ids of chunks(deviceIds)) {
    const result = await trx
      .deleteFrom('device_tags')
      .where('tenant_id', '=', tenantId)
      .where('device_id', 'in', ids)
      .where('tag', 'in', [...new Set(tags)])
      .executeTakeFirst();
    removed += Number(result.numDeletedRows);
  }
  return removed;
}

/**
 * Decommissions many devices at once (those already decommissioned are skipped) and revokes
 * their tokens; the ids it decommissioned.
 */
export async function decommissionDevices(
  trx: Transaction<Database>,
  tenantId: string,
  deviceIds: readonly string[],
  now: string,
): Promise<string[]> {
  const done: string[] = [];
  for (const ids of chunks(deviceIds)) {
    const rows = await trx
      .updateTable('devices')
      .set({ decommissioned_at: now })
      .where('tenant_id', '=', tenantId)
      .where('id', 'in', ids)
      .where('decommissioned_at', 'is', null)
      .returning('id')
      .execute();
    const changed = rows.map((r) => r.id);
    if (changed.length === 0) continue;
    await trx
      .updateTable('device_tokens')
      .set({ revoked_at: now })
      .where('tenant_id', '=', tenantId)
      .where('device_id', 'in', changed)
      .where('revoked_at', 'is', null)
      .execute();
    done.push(...changed);
  }
  return done;
}

/**
 * The ids of a bulk change's devices: those of `ids` in this tenant, or those matching a resolved
 * filter, at most `limit` (callers ask for one more than they allow to detect an overflow).
 */
export async function bulkTargetIds(
  db: Db,
  tenantId: string,
  target: { readonly ids: readonly string[] } | { readonly filter: ResolvedFilter },
  limit: number,
): Promise<string[]> {
  if ('ids' in target) {
    const found: string[] = [];
    for (const ids of chunks([...new Set(target.ids)])) {
      const rows = await db
        .selectFrom('devices')
        .select('id')
        .where('tenant_id', '=', tenantId)
        .where('id', 'in', ids)
        .execute();
      found.push(...rows.map((r) => r.id));
    }
    return found;
  }
  const rows = await db
    .selectFrom('devices')
    .select('devices.id')
    .where('devices.tenant_id', '=', tenantId)
    .where(filterCondition(tenantId, target.filter))
    .orderBy('devices.id')
    .limit(limit)
    .execute();
  return rows.map((r) => r.id);
}
