import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import { ServerError } from '../../errors.js';
import type { AuditedRun } from '../../http/audit-hook.js';
import { findDeviceId } from '../devices/device.repository.js';
import { type DeviceFilterService, groupRefs } from '../filters/device-filter.service.js';
import { parseFilter } from '../filters/parse-filter.js';
import {
  addMembers,
  type DeviceGroup,
  deleteGroup,
  findGroup,
  insertGroup,
  listGroups,
  memberNames,
  removeMembers,
} from './group.repository.js';

/** A group with what it holds: a static group's member names, every group's current count. */
export interface GroupView extends DeviceGroup {
  readonly deviceCount: number;
  readonly members?: string[];
}

/**
 * Device groups: static (a named list of devices) and dynamic (a saved target filter, checked
 * when saved). Both are reachable from filters as `"name" in device.groups`.
 */
export class GroupService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => Date,
    private readonly filters: DeviceFilterService,
  ) {}

  /** Every group of the tenant. */
  list(tenantId: string): Promise<DeviceGroup[]> {
    return listGroups(this.db, tenantId);
  }

  /** The group (by id or name) with its device count and, for a static group, its members. */
  async show(tenantId: string, idOrName: string): Promise<GroupView> {
    const group = await this.#get(tenantId, idOrName);
    const deviceCount = await this.filters.count(
      tenantId,
      `${JSON.stringify(group.name)} in device.groups`,
    );
    if (group.kind === 'dynamic') return { ...group, deviceCount };
    return { ...group, deviceCount, members: await memberNames(this.db, tenantId, group.id) };
  }

  /** Creates a static group (`devices`: ids or names) or a dynamic one (`filter`). */
  async create(
    audit: AuditedRun,
    tenantId: string,
    input: { name: string; devices?: readonly string[]; filter?: string },
  ): Promise<DeviceGroup> {
    if (input.filter !== undefined && input.devices !== undefined)
      throw new ServerError(
        'RESOURCE_INVALID',
        'a group has either devices (static) or a filter (dynamic)',
      );
    if (await findGroup(this.db, tenantId, input.name))
      throw new ServerError('RESOURCE_CONFLICT', `group ${input.name} exists`);
    // A dynamic group's filter must hold now (groups it names must exist, so no cycle can form).
    if (input.filter !== undefined) await this.filters.resolve(tenantId, input.filter);
    const deviceIds = await this.#deviceIds(tenantId, input.devices ?? []);
    return audit(async (trx) => {
      const group = await insertGroup(
        trx,
        tenantId,
        {
          name: input.name,
          kind: input.filter === undefined ? 'static' : 'dynamic',
          filter: input.filter ?? null,
          deviceIds,
        },
        this.now().toISOString(),
      );
      return { result: group, resourceId: group.id, change: { ...input } };
    }, 201);
  }

  /** Adds and removes devices (ids or names) of a static group; answers it as it is now. */
  async changeMembers(
    audit: AuditedRun,
    tenantId: string,
    idOrName: string,
    change: { add?: readonly string[]; remove?: readonly string[] },
  ): Promise<GroupView> {
    const group = await this.#get(tenantId, idOrName);
    if (group.kind !== 'static')
      throw new ServerError(
        'RESOURCE_CONFLICT',
        `group ${group.name} is dynamic: its filter decides`,
      );
    const add = await this.#deviceIds(tenantId, change.add ?? []);
    const remove = await this.#deviceIds(tenantId, change.remove ?? []);
    await audit(async (trx) => {
      await addMembers(trx, tenantId, group.id, add);
      await removeMembers(trx, tenantId, group.id, remove);
      return {
        result: undefined,
        resourceId: group.id,
        change: { add: change.add, remove: change.remove },
      };
    });
    return this.show(tenantId, group.id);
  }

  /** Deletes a group (and its member list); refused while a dynamic group's filter names it. */
  async delete(audit: AuditedRun, tenantId: string, idOrName: string): Promise<void> {
    const group = await this.#get(tenantId, idOrName);
    for (const other of await listGroups(this.db, tenantId)) {
      if (other.filter === null) continue;
      let names: string[];
      try {
        names = groupRefs(parseFilter(other.filter, { now: this.now() })).map((r) => r.group);
      } catch {
        continue; // A filter that no longer parses names nothing it could lose.
      }
      if (names.includes(group.name))
        throw new ServerError(
          'RESOURCE_CONFLICT',
          `group ${group.name} is named by the filter of group ${other.name}`,
        );
    }
    await audit(async (trx) => {
      if (!(await deleteGroup(trx, tenantId, group.id)))
        throw new ServerError('RESOURCE_NOT_FOUND', `no group ${idOrName}`);
      return { result: undefined, resourceId: group.id, change: { name: group.name } };
    });
  }

  async #get(tenantId: string, idOrName: string): Promise<DeviceGroup> {
    const group = await findGroup(this.db, tenantId, idOrName);
    if (!group) throw new ServerError('RESOURCE_NOT_FOUND', `no group ${idOrName}`);
    return group;
  }

  async #deviceIds(tenantId: string, idsOrNames: readonly string[]): Promise<string[]> {
    const ids: string[] = [];
    for (const ref of new Set(idsOrNames)) {
      const id = await findDeviceId(this.db, tenantId, ref);
      if (id === undefined) throw new ServerError('RESOURCE_NOT_FOUND', `no device ${ref}`);
      ids.push(id);
    }
    return ids;
  }
}
