import type { Kysely, Transaction } from 'kysely';
import { newId } from '../../auth/secrets.js';
import type { Database } from '../../db/database.js';
import './group.table.js';

type Db = Kysely<Database> | Transaction<Database>;

/** The kinds of group. */
export const GROUP_KINDS = ['static', 'dynamic'] as const;
export type GroupKind = (typeof GROUP_KINDS)[number];

/** A group as the API shows it. */
export interface DeviceGroup {
  readonly id: string;
  readonly name: string;
  readonly kind: GroupKind;
  /** The saved filter of a dynamic group; null for a static one. */
  readonly filter: string | null;
  readonly createdAt: string;
}

function toGroup(row: {
  id: string;
  name: string;
  kind: string;
  filter: string | null;
  created_at: string;
}): DeviceGroup {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind === 'dynamic' ? 'dynamic' : 'static',
    filter: row.filter,
    createdAt: row.created_at,
  };
}

/** The tenant's groups with these names (missing names are simply absent). */
export async function groupsByName(
  db: Db,
  tenantId: string,
  names: readonly string[],
): Promise<DeviceGroup[]> {
  if (names.length === 0) return [];
  const rows = await db
    .selectFrom('device_groups')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('name', 'in', [...names])
    .execute();
  return rows.map(toGroup);
}

/** The group whose id or, failing that, name is `idOrName`. */
export async function findGroup(
  db: Db,
  tenantId: string,
  idOrName: string,
): Promise<DeviceGroup | undefined> {
  const rows = await db
    .selectFrom('device_groups')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
    .execute();
  const row = rows.find((r) => r.id === idOrName) ?? rows[0];
  return row && toGroup(row);
}

/** Every group of the tenant, by name. */
export async function listGroups(db: Db, tenantId: string): Promise<DeviceGroup[]> {
  const rows = await db
    .selectFrom('device_groups')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .orderBy('name')
    .execute();
  return rows.map(toGroup);
}

/** Inserts a group (and a static group's members) and answers it. */
export async function insertGroup(
  trx: Transaction<Database>,
  tenantId: string,
  group: { name: string; kind: GroupKind; filter: string | null; deviceIds: readonly string[] },
  now: string,
): Promise<DeviceGroup> {
  const id = newId('grp');
  await trx
    .insertInto('device_groups')
    .values({
      id,
      tenant_id: tenantId,
      name: group.name,
      kind: group.kind,
      filter: group.filter,
      created_at: now,
    })
    .execute();
  await addMembers(trx, tenantId, id, group.deviceIds);
  return { id, name: group.name, kind: group.kind, filter: group.filter, createdAt: now };
}

/** Adds devices to a static group (those already in it are skipped). */
export async function addMembers(
  trx: Transaction<Database>,
  tenantId: string,
  groupId: string,
  deviceIds: readonly string[],
): Promise<void> {
  const unique = [...new Set(deviceIds)];
  if (unique.length === 0) return;
  const present = new Set(
    (
      await trx
        .selectFrom('device_group_members')
        .select('device_id')
        .where('tenant_id', '=', tenantId)
        .where('group_id', '=', groupId)
        .where('device_id', 'in', unique)
        .execute()
    ).map((r) => r.device_id),
  );
  const rows = unique
    .filter((id) => !present.has(id))
    .map((device_id) => ({ tenant_id: tenantId, group_id: groupId, device_id }));
  if (rows.length > 0) await trx.insertInto('device_group_members').values(rows).execute();
}

/** Removes devices from a static group. */
export async function removeMembers(
  trx: Transaction<Database>,
  tenantId: string,
  groupId: string,
  deviceIds: readonly string[],
): Promise<void> {
  if (deviceIds.length === 0) return;
  await trx
    .deleteFrom('device_group_members')
    .where('tenant_id', '=', tenantId)
    .where('group_id', '=', groupId)
    .where('device_id', 'in', [...deviceIds])
    .execute();
}

/** Names of a static group's members, sorted. */
export async function memberNames(db: Db, tenantId: string, groupId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('device_group_members as m')
    .innerJoin('devices as d', 'd.id', 'm.device_id')
    .select('d.name')
    .where('m.tenant_id', '=', tenantId)
    .where('m.group_id', '=', groupId)
    .orderBy('d.name')
    .execute();
  return rows.map((r) => r.name);
}

/** Deletes a group and its member rows; false when it was not there. */
export async function deleteGroup(
  trx: Transaction<Database>,
  tenantId: string,
  groupId: string,
): Promise<boolean> {
  await trx
    .deleteFrom('device_group_members')
    .where('tenant_id', '=', tenantId)
    .where('group_id', '=', groupId)
    .execute();
  const result = await trx
    .deleteFrom('device_groups')
    .where('tenant_id', '=', tenantId)
    .where('id', '=', groupId)
    .executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}
