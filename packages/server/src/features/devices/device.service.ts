import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../../db/database.js';
import type { DeviceChangeFeed } from '../../db/device-changes.js';
import { ServerError } from '../../errors.js';
import type { AuditedRun } from '../../http/audit-hook.js';
import { type Action, actionsOfDevice } from '../actions/action.service.js';
import { getDeviceClass } from '../device-classes/device-class.repository.js';
import type { DeviceFilterService } from '../filters/device-filter.service.js';
import { addMembers, findGroup } from '../groups/group.repository.js';
import type { WebhookPublisher } from '../webhooks/webhook-outbox.js';
import {
  type AttributeValue,
  addTagsToDevices,
  bulkTargetIds,
  createDevices,
  type DeviceDetail,
  type DeviceQuery,
  type DeviceSummary,
  decommissionDevice,
  decommissionDevices,
  existingDeviceNames,
  findDeviceId,
  getDevice,
  listDevices,
  type NewDevice,
  removeTagsFromDevices,
  rotateDeviceToken,
  setDeviceTags,
  updateCustomAttributes,
} from './device.repository.js';

/** Actions shown inside a device's view. */
export const RECENT_ACTIONS = 20;

/** One item of a bulk registration: the device and its token, or why it was refused. */
export type BulkItem =
  | {
      readonly index: number;
      readonly name: string;
      readonly ok: true;
      readonly device: DeviceSummary;
      readonly token: string;
    }
  | {
      readonly index: number;
      readonly name: string;
      readonly ok: false;
      readonly code: 'RESOURCE_NOT_FOUND' | 'RESOURCE_CONFLICT';
      readonly detail: string;
    };

/** The most devices one bulk action changes (a filter matching more is refused). */
export const BULK_ACTION_MAX = 10_000;

/** Bulk actions on many devices (by ids or by a target filter). */
export const BULK_ACTIONS = ['add-tags', 'remove-tags', 'add-to-group', 'decommission'] as const;
export type BulkAction = (typeof BULK_ACTIONS)[number];

/** A bulk action's request: the action, its devices (ids or a filter) and its argument. */
export interface BulkActionInput {
  readonly action: BulkAction;
  readonly deviceIds?: readonly string[];
  readonly filter?: string;
  readonly tags?: readonly string[];
  readonly group?: string;
}

/** What a bulk action did: how many devices it addressed and how many it changed. */
export interface BulkActionResult {
  readonly action: BulkAction;
  readonly matched: number;
  readonly changed: number;
}

/** A list filter as the API takes it: repeated `tag`, attributes as `name=value` pairs. */
export type DeviceListQuery = Omit<DeviceQuery, 'attributes' | 'tags' | 'filter'> & {
  readonly tag?: readonly string[];
  readonly attr?: readonly string[];
  /** A target filter's source (docs/filters.md). */
  readonly filter?: string;
};

/**
 * The device registry: pre-registration (one or in bulk, with a status per item), lists, views,
 * attributes, tags, token rotation and decommissioning. A device is addressed by its id or its
 * name (names are unique per tenant; an id wins over another device's equal name). Writes run
 * through the route's {@link AuditedRun}; credential changes are announced after commit.
 */
export class DeviceService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => Date,
    /** Told after commit when a device's credentials change (read-your-writes on every replica). */
    private readonly changes: Pick<DeviceChangeFeed, 'announce'>,
    /** Checks and resolves target filters (`filter=` of the list, the count). */
    private readonly filters: DeviceFilterService,
    /** Where `device.registered` is published, in the registering transaction. */
    private readonly events: WebhookPublisher,
  ) {}

  /** The id of the device named by id or name; `RESOURCE_NOT_FOUND` when there is none. */
  async resolve(tenantId: string, idOrName: string): Promise<string> {
    const id = await findDeviceId(this.db, tenantId, idOrName);
    if (id === undefined) throw new ServerError('RESOURCE_NOT_FOUND', `no device ${idOrName}`);
    return id;
  }

  /** The device named by id or name, with attributes, tags and components. */
  async get(tenantId: string, idOrName: string): Promise<DeviceDetail> {
    const id = await this.resolve(tenantId, idOrName);
    const device = await getDevice(this.db, tenantId, id);
    if (device === undefined) throw new ServerError('RESOURCE_NOT_FOUND', `no device ${idOrName}`);
    return device;
  }

  /** The device's view, with its most recent actions when `withActions` (the caller may read them). */
  async show(
    tenantId: string,
    idOrName: string,
    withActions: boolean,
  ): Promise<DeviceDetail & { actions?: Action[] }> {
    const device = await this.get(tenantId, idOrName);
    if (!withActions) return device;
    return {
      ...device,
      actions: await actionsOfDevice(this.db, tenantId, device.id, RECENT_ACTIONS),
    };
  }

  /** The device's actions, newest first. */
  async actions(tenantId: string, idOrName: string, limit: number): Promise<Action[]> {
    return actionsOfDevice(this.db, tenantId, await this.resolve(tenantId, idOrName), limit);
  }

  /** How many of the tenant's devices match a target filter. */
  count(tenantId: string, filter: string): Promise<number> {
    return this.filters.count(tenantId, filter);
  }

  /** One page of devices. */
  async list(
    tenantId: string,
    query: DeviceListQuery,
  ): Promise<{ items: DeviceSummary[]; total: number }> {
    const { attr, tag, filter, ...rest } = query;
    const resolved =
      filter === undefined ? undefined : await this.filters.resolve(tenantId, filter);
    const attributes = (attr ?? []).map((pair) => {
      const at = pair.indexOf('=');
      return { name: pair.slice(0, at), value: pair.slice(at + 1) };
    });
    return listDevices(this.db, tenantId, {
      ...rest,
      attributes,
      ...(tag ? { tags: tag } : {}),
      ...(resolved ? { filter: resolved } : {}),
    });
  }

  /** Pre-registers one device; its token is in the answer only. */
  async register(
    audit: AuditedRun,
    tenantId: string,
    input: NewDevice,
  ): Promise<{ device: DeviceSummary; token: string }> {
    if (!(await getDeviceClass(this.db, tenantId, input.deviceClassId))) {
      throw new ServerError('RESOURCE_NOT_FOUND', `no device class ${input.deviceClassId}`);
    }
    if ((await existingDeviceNames(this.db, tenantId, [input.name])).size > 0) {
      throw new ServerError('RESOURCE_CONFLICT', `device ${input.name} exists`);
    }
    const [created] = await audit(async (trx) => {
      const out = await createDevices(trx, tenantId, [input], this.#at());
      await this.#published(trx, tenantId, out);
      return {
        result: out,
        resourceId: out[0]?.device.id ?? null,
        change: { name: input.name, deviceClassId: input.deviceClassId },
      };
    }, 201);
    if (!created) throw new ServerError('HTTP_INTERNAL', 'device was not created');
    return created;
  }

  /** Pre-registers many devices: a status per item; the valid ones are registered together. */
  async registerBulk(
    audit: AuditedRun,
    tenantId: string,
    inputs: readonly NewDevice[],
  ): Promise<BulkItem[]> {
    const known = new Set<string>();
    for (const id of new Set(inputs.map((d) => d.deviceClassId)))
      if (await getDeviceClass(this.db, tenantId, id)) known.add(id);
    const taken = await existingDeviceNames(
      this.db,
      tenantId,
      inputs.map((d) => d.name),
    );
    const seen = new Set<string>();
    const verdicts = inputs.map((input, index) => {
      let error: { code: 'RESOURCE_NOT_FOUND' | 'RESOURCE_CONFLICT'; detail: string } | undefined;
      if (!known.has(input.deviceClassId))
        error = { code: 'RESOURCE_NOT_FOUND', detail: `no device class ${input.deviceClassId}` };
      else if (taken.has(input.name) || seen.has(input.name))
        error = { code: 'RESOURCE_CONFLICT', detail: `device ${input.name} exists` };
      seen.add(input.name);
      return { index, input, error };
    });
    const valid = verdicts.filter((v) => !v.error);
    const created = await audit(async (trx) => {
      const out = await createDevices(
        trx,
        tenantId,
        valid.map((v) => v.input),
        this.#at(),
      );
      await this.#published(trx, tenantId, out);
      return {
        result: out,
        resourceId: null,
        change: { registered: out.map((o) => o.device.id), rejected: inputs.length - out.length },
      };
    });
    const byIndex = new Map(valid.map((v, i) => [v.index, created[i]]));
    return verdicts.map((v): BulkItem => {
      const done = byIndex.get(v.index);
      if (done) return { index: v.index, name: v.input.name, ok: true, ...done };
      return {
        index: v.index,
        name: v.input.name,
        ok: false,
        code: v.error?.code ?? 'RESOURCE_CONFLICT',
        detail: v.error?.detail ?? 'not registered',
      };
    });
  }

  /** Merges custom attributes (`null` removes one); answers the device as it is now. */
  async setAttributes(
    audit: AuditedRun,
    tenantId: string,
    idOrName: string,
    changes: Readonly<Record<string, AttributeValue | null>>,
  ): Promise<DeviceDetail> {
    const id = await this.resolve(tenantId, idOrName);
    await audit(async (trx) => {
      await updateCustomAttributes(trx, tenantId, id, changes);
      return { result: undefined, resourceId: id, change: { attributes: changes } };
    });
    return this.get(tenantId, id);
  }

  /** Replaces the device's tags; answers the device as it is now. */
  async setTags(
    audit: AuditedRun,
    tenantId: string,
    idOrName: string,
    tags: readonly string[],
  ): Promise<DeviceDetail> {
    const device = await this.get(tenantId, idOrName);
    await audit(async (trx) => {
      await setDeviceTags(trx, tenantId, device.id, tags);
      return { result: undefined, resourceId: device.id, change: { from: device.tags, to: tags } };
    });
    return this.get(tenantId, device.id);
  }

  /** Revokes the device's token and issues a new one; the old one fails from the answer on. */
  async rotateToken(audit: AuditedRun, tenantId: string, idOrName: string): Promise<string> {
    const id = await this.resolve(tenantId, idOrName);
    const token = await audit(async (trx) => {
      const issued = await rotateDeviceToken(trx, tenantId, id, this.#at());
      if (!issued) throw new ServerError('RESOURCE_CONFLICT', `device ${id} is decommissioned`);
      return { result: issued, resourceId: id, change: { tokenRotated: true } };
    });
    // Other replicas hear it through their triggers' NOTIFY; this one at once.
    this.changes.announce(tenantId, id);
    return token;
  }

  /** Decommissions the device (credentials revoked, history kept); answers it as it is now. */
  async decommission(audit: AuditedRun, tenantId: string, idOrName: string): Promise<DeviceDetail> {
    const device = await this.get(tenantId, idOrName);
    if (device.decommissionedAt)
      throw new ServerError(
        'RESOURCE_CONFLICT',
        `device ${device.id} was decommissioned at ${device.decommissionedAt}`,
      );
    await audit(async (trx) => {
      if (!(await decommissionDevice(trx, tenantId, device.id, this.#at()))) {
        throw new ServerError('RESOURCE_CONFLICT', `device ${device.id} is already decommissioned`);
      }
      return {
        result: undefined,
        resourceId: device.id,
        change: { decommissioned: true, credentialsRevoked: true },
      };
    });
    this.changes.announce(tenantId, device.id);
    return this.get(tenantId, device.id);
  }

  /**
   * One action on many devices, in one transaction with one audit entry: add or remove tags, add
   * to a static group, decommission. Devices are `deviceIds` (all must exist) or those matching
   * `filter` (at most {@link BULK_ACTION_MAX}, else `DEVICE_BULK_TOO_MANY`).
   */
  async bulkAction(
    audit: AuditedRun,
    tenantId: string,
    input: BulkActionInput,
  ): Promise<BulkActionResult> {
    if ((input.deviceIds === undefined) === (input.filter === undefined))
      throw new ServerError('RESOURCE_INVALID', 'give either deviceIds or filter');
    const needsTags = input.action === 'add-tags' || input.action === 'remove-tags';
    if (needsTags && (input.tags ?? []).length === 0)
      throw new ServerError('RESOURCE_INVALID', `${input.action} needs tags`);
    if (input.action === 'add-to-group' && input.group === undefined)
      throw new ServerError('RESOURCE_INVALID', 'add-to-group needs group');
    const group =
      input.group === undefined ? undefined : await findGroup(this.db, tenantId, input.group);
    if (input.action === 'add-to-group') {
      if (!group) throw new ServerError('RESOURCE_NOT_FOUND', `no group ${input.group}`);
      if (group.kind !== 'static')
        throw new ServerError(
          'RESOURCE_CONFLICT',
          `group ${group.name} is dynamic: its members are those its filter matches`,
        );
    }
    const target =
      input.deviceIds !== undefined
        ? { ids: input.deviceIds }
        : { filter: await this.filters.resolve(tenantId, input.filter as string) };
    const at = this.#at();
    const decommissioned: string[] = [];
    const result = await audit(async (trx) => {
      const ids = await bulkTargetIds(trx, tenantId, target, BULK_ACTION_MAX + 1);
      if ('ids' in target) {
        const missing = [...new Set(target.ids)].filter((id) => !ids.includes(id));
        if (missing.length > 0)
          throw new ServerError(
            'RESOURCE_NOT_FOUND',
            `no device ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ` and ${missing.length - 10} more` : ''}`,
          );
      }
      if (ids.length > BULK_ACTION_MAX)
        throw new ServerError(
          'DEVICE_BULK_TOO_MANY',
          `the filter matches more than ${BULK_ACTION_MAX} devices; narrow it`,
        );
      let changed: number;
      switch (input.action) {
        case 'add-tags':
          changed = await addTagsToDevices(trx, tenantId, ids, input.tags ?? []);
          break;
        case 'remove-tags':
          changed = await removeTagsFromDevices(trx, tenantId, ids, input.tags ?? []);
          break;
        case 'add-to-group': {
          const groupId = (group as { id: string }).id;
          const before = await countMembers(trx, tenantId, groupId);
          for (let i = 0; i < ids.length; i += 500)
            await addMembers(trx, tenantId, groupId, ids.slice(i, i + 500));
          changed = (await countMembers(trx, tenantId, groupId)) - before;
          break;
        }
        case 'decommission':
          decommissioned.push(...(await decommissionDevices(trx, tenantId, ids, at)));
          changed = decommissioned.length;
          break;
      }
      const outcome: BulkActionResult = { action: input.action, matched: ids.length, changed };
      return {
        result: outcome,
        resourceId: null,
        change: {
          action: input.action,
          ...(input.filter !== undefined ? { filter: input.filter } : {}),
          ...(input.tags ? { tags: input.tags } : {}),
          ...(group ? { group: group.name } : {}),
          matched: ids.length,
          changed,
        },
      };
    });
    for (const id of decommissioned) this.changes.announce(tenantId, id);
    return result;
  }

  async #published(
    trx: Transaction<Database>,
    tenantId: string,
    created: ReadonlyArray<{ device: DeviceSummary }>,
  ): Promise<void> {
    await this.events.publishEach(
      trx,
      tenantId,
      'device.registered',
      created.map(({ device }) => ({ device })),
    );
  }

  #at(): string {
    return this.now().toISOString();
  }
}

async function countMembers(
  trx: Transaction<Database>,
  tenantId: string,
  groupId: string,
): Promise<number> {
  const row = await trx
    .selectFrom('device_group_members')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('tenant_id', '=', tenantId)
    .where('group_id', '=', groupId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
