import { Type } from 'typebox';
import { rolesGrant } from '../../auth/permissions.js';
import { ServerError } from '../../errors.js';
import { userOf } from '../../http/access-control.js';
import type { UpdraftApp, UpdraftFeature } from '../../http/app-types.js';
import { audited } from '../../http/audit-hook.js';
import { ActionSchema } from '../actions/action.routes.js';
import { actionsOfDevice } from '../actions/action.service.js';
import { getDeviceClass } from '../device-classes/device-class.repository.js';
import {
  ATTRIBUTE_NAME,
  createDevices,
  DEVICE_SORTS,
  decommissionDevice,
  existingDeviceNames,
  getDevice,
  listDevices,
  type NewDevice,
  rotateDeviceToken,
  setDeviceTags,
  updateCustomAttributes,
} from './device.repository.js';

const Id = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });
const Name = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:@-]+$' });
const Tag = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._:-]+$' });
const Value = Type.Union([Type.String({ maxLength: 256 }), Type.Number(), Type.Boolean()]);
const Attributes = Type.Record(Type.String({ pattern: ATTRIBUTE_NAME.source }), Value, {
  maxProperties: 64,
  additionalProperties: false,
});
const NewDeviceSchema = Type.Object(
  {
    name: Name,
    deviceClassId: Id,
    attributes: Type.Optional(Attributes),
    tags: Type.Optional(Type.Array(Tag, { maxItems: 32 })),
  },
  { additionalProperties: false },
);
const Summary = Type.Object({
  id: Type.String(),
  name: Type.String(),
  deviceClassId: Type.String(),
  createdAt: Type.String(),
  lastSeenAt: Type.Union([Type.String(), Type.Null()]),
  decommissionedAt: Type.Union([Type.String(), Type.Null()]),
  tags: Type.Array(Type.String()),
});
const Detail = Type.Object({
  ...Summary.properties,
  attributes: Type.Object({
    reported: Type.Record(Type.String(), Value),
    custom: Type.Record(Type.String(), Value),
  }),
  components: Type.Array(
    Type.Object({
      id: Type.String(),
      version: Type.Union([Type.String(), Type.Null()]),
      sequenceNumber: Type.Union([Type.Number(), Type.Null()]),
      digest: Type.Union([Type.String(), Type.Null()]),
      updatedAt: Type.String(),
    }),
  ),
});
const MAX_BULK = 1000;
/** Actions shown inside a device's view. */
const RECENT_ACTIONS = 20;

async function requireDevice(app: UpdraftApp, tenantId: string, id: string) {
  const device = await getDevice(app.updraft.db, tenantId, id);
  if (!device) throw new ServerError('RESOURCE_NOT_FOUND', `no device ${id}`);
  return device;
}

/** Device registry: pre-register, list/filter, show, attributes, tags, decommission. At `/api/v1`. */
export const devicesRoutes: UpdraftFeature = async (app) => {
  app.post(
    '/devices',
    {
      config: { permission: 'devices:write' },
      schema: {
        tags: ['devices'],
        description:
          'Pre-register one device. The response holds its bearer token, shown only this once.',
        body: NewDeviceSchema,
        response: { 201: Type.Object({ device: Summary, token: Type.String() }) },
      },
    },
    async (request, reply) => {
      const { tenantId } = userOf(request);
      const input = request.body as NewDevice;
      if (!(await getDeviceClass(app.updraft.db, tenantId, input.deviceClassId))) {
        throw new ServerError('RESOURCE_NOT_FOUND', `no device class ${input.deviceClassId}`);
      }
      if ((await existingDeviceNames(app.updraft.db, tenantId, [input.name])).size > 0) {
        throw new ServerError('RESOURCE_CONFLICT', `device ${input.name} exists`);
      }
      const [created] = await audited(
        request,
        'device.register',
        'device',
        async (trx) => {
          const out = await createDevices(trx, tenantId, [input], app.updraft.now().toISOString());
          return {
            result: out,
            resourceId: out[0]?.device.id ?? null,
            change: { name: input.name, deviceClassId: input.deviceClassId },
          };
        },
        201,
      );
      if (!created) throw new ServerError('HTTP_INTERNAL', 'device was not created');
      return reply.code(201).send(created);
    },
  );

  app.post(
    '/devices/bulk',
    {
      config: { permission: 'devices:write' },
      schema: {
        tags: ['devices'],
        description: `Pre-register up to ${MAX_BULK} devices. Answers a status per item; valid items are registered together.`,
        body: Type.Object(
          { devices: Type.Array(NewDeviceSchema, { minItems: 1, maxItems: MAX_BULK }) },
          { additionalProperties: false },
        ),
      },
    },
    async (request) => {
      const { tenantId } = userOf(request);
      const inputs = request.body.devices as NewDevice[];
      const classIds = [...new Set(inputs.map((d) => d.deviceClassId))];
      const known = new Set<string>();
      for (const id of classIds)
        if (await getDeviceClass(app.updraft.db, tenantId, id)) known.add(id);
      const taken = await existingDeviceNames(
        app.updraft.db,
        tenantId,
        inputs.map((d) => d.name),
      );
      const seen = new Set<string>();
      const verdicts = inputs.map((input, index) => {
        let error: { code: string; detail: string } | undefined;
        if (!known.has(input.deviceClassId))
          error = { code: 'RESOURCE_NOT_FOUND', detail: `no device class ${input.deviceClassId}` };
        else if (taken.has(input.name) || seen.has(input.name))
          error = { code: 'RESOURCE_CONFLICT', detail: `device ${input.name} exists` };
        seen.add(input.name);
        return { index, input, error };
      });
      const valid = verdicts.filter((v) => !v.error);
      const created = await audited(request, 'device.register-bulk', 'device', async (trx) => {
        const out = await createDevices(
          trx,
          tenantId,
          valid.map((v) => v.input),
          app.updraft.now().toISOString(),
        );
        return {
          result: out,
          resourceId: null,
          change: { registered: out.map((o) => o.device.id), rejected: inputs.length - out.length },
        };
      });
      const byIndex = new Map(valid.map((v, i) => [v.index, created[i]]));
      return {
        items: verdicts.map((v) => {
          const done = byIndex.get(v.index);
          return done
            ? {
                index: v.index,
                name: v.input.name,
                ok: true,
                device: done.device,
                token: done.token,
              }
            : {
                index: v.index,
                name: v.input.name,
                ok: false,
                code: v.error?.code,
                detail: v.error?.detail,
              };
        }),
      };
    },
  );

  app.get(
    '/devices',
    {
      config: { permission: 'devices:read' },
      schema: {
        tags: ['devices'],
        description:
          'Filter with repeated `tag=` and `attr=name=value` (reported or custom attributes); all must match.',
        querystring: Type.Object(
          {
            limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
            offset: Type.Integer({ minimum: 0, maximum: 10_000_000, default: 0 }),
            sort: Type.Enum(DEVICE_SORTS, { default: 'name' }),
            order: Type.Enum(['asc', 'desc'] as const, { default: 'asc' }),
            deviceClassId: Type.Optional(Id),
            state: Type.Optional(Type.Enum(['active', 'decommissioned'] as const)),
            namePrefix: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
            tag: Type.Optional(Type.Array(Tag, { maxItems: 16 })),
            attr: Type.Optional(
              Type.Array(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}=.{0,256}$' }), {
                maxItems: 16,
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            items: Type.Array(Summary),
            total: Type.Integer(),
            limit: Type.Integer(),
            offset: Type.Integer(),
          }),
        },
      },
    },
    async (request) => {
      const q = request.query;
      const attributes = (q.attr ?? []).map((pair) => {
        const at = pair.indexOf('=');
        return { name: pair.slice(0, at), value: pair.slice(at + 1) };
      });
      const page = await listDevices(app.updraft.db, userOf(request).tenantId, {
        sort: q.sort,
        order: q.order,
        limit: q.limit,
        offset: q.offset,
        attributes,
        ...(q.tag ? { tags: q.tag } : {}),
        ...(q.deviceClassId ? { deviceClassId: q.deviceClassId } : {}),
        ...(q.state ? { state: q.state } : {}),
        ...(q.namePrefix ? { namePrefix: q.namePrefix } : {}),
      });
      return { ...page, limit: q.limit, offset: q.offset };
    },
  );

  app.get(
    '/devices/:id',
    {
      config: { permission: 'devices:read' },
      schema: {
        tags: ['devices'],
        description: `The device with its attributes, installed components, last seen and, for callers allowed to read actions, its ${RECENT_ACTIONS} most recent actions (all of them: GET /devices/{id}/actions).`,
        params: Type.Object({ id: Id }),
        response: {
          200: Type.Object({
            ...Detail.properties,
            actions: Type.Optional(Type.Array(ActionSchema)),
          }),
        },
      },
    },
    async (request) => {
      const user = userOf(request);
      const device = await requireDevice(app, user.tenantId, request.params.id);
      // Field-level least privilege: action history only for roles that may read actions.
      if (!rolesGrant(user.roles, 'actions:read')) return device;
      const actions = await actionsOfDevice(
        app.updraft.db,
        user.tenantId,
        device.id,
        RECENT_ACTIONS,
      );
      return { ...device, actions };
    },
  );

  app.patch(
    '/devices/:id/attributes',
    {
      config: { permission: 'devices:write' },
      schema: {
        tags: ['devices'],
        description:
          'Merge custom attributes; a null value removes one. Reported attributes are the device’s own.',
        params: Type.Object({ id: Id }),
        body: Type.Record(
          Type.String({ pattern: ATTRIBUTE_NAME.source }),
          Type.Union([Value, Type.Null()]),
          { maxProperties: 64, additionalProperties: false },
        ),
        response: { 200: Detail },
      },
    },
    async (request) => {
      const { tenantId } = userOf(request);
      const device = await requireDevice(app, tenantId, request.params.id);
      await audited(request, 'device.set-attributes', 'device', async (trx) => {
        await updateCustomAttributes(trx, tenantId, device.id, request.body);
        return { result: undefined, resourceId: device.id, change: { attributes: request.body } };
      });
      return requireDevice(app, tenantId, device.id);
    },
  );

  app.put(
    '/devices/:id/tags',
    {
      config: { permission: 'devices:write' },
      schema: {
        tags: ['devices'],
        params: Type.Object({ id: Id }),
        body: Type.Object(
          { tags: Type.Array(Tag, { maxItems: 32 }) },
          { additionalProperties: false },
        ),
        response: { 200: Detail },
      },
    },
    async (request) => {
      const { tenantId } = userOf(request);
      const device = await requireDevice(app, tenantId, request.params.id);
      await audited(request, 'device.set-tags', 'device', async (trx) => {
        await setDeviceTags(trx, tenantId, device.id, request.body.tags);
        return {
          result: undefined,
          resourceId: device.id,
          change: { from: device.tags, to: request.body.tags },
        };
      });
      return requireDevice(app, tenantId, device.id);
    },
  );

  app.post(
    '/devices/:id/token',
    {
      config: { permission: 'devices:write' },
      schema: {
        tags: ['devices'],
        description:
          'Revokes the device’s current token and issues a new one, shown only in this response.',
        params: Type.Object({ id: Id }),
        response: { 200: Type.Object({ token: Type.String() }) },
      },
    },
    async (request) => {
      const { tenantId } = userOf(request);
      const device = await requireDevice(app, tenantId, request.params.id);
      const token = await audited(request, 'device.rotate-token', 'device', async (trx) => {
        const issued = await rotateDeviceToken(
          trx,
          tenantId,
          device.id,
          app.updraft.now().toISOString(),
        );
        if (!issued)
          throw new ServerError('RESOURCE_CONFLICT', `device ${device.id} is decommissioned`);
        return { result: issued, resourceId: device.id, change: { tokenRotated: true } };
      });
      // The old token must fail from this answer on (other replicas: their triggers' NOTIFY).
      app.updraft.deviceChanges.announce(tenantId, device.id);
      return { token };
    },
  );

  app.post(
    '/devices/:id/decommission',
    {
      config: { permission: 'devices:write' },
      schema: {
        tags: ['devices'],
        description: 'Revokes the device’s credentials; its history is kept.',
        params: Type.Object({ id: Id }),
        response: { 200: Detail },
      },
    },
    async (request) => {
      const { tenantId } = userOf(request);
      const device = await requireDevice(app, tenantId, request.params.id);
      if (device.decommissionedAt)
        throw new ServerError(
          'RESOURCE_CONFLICT',
          `device ${device.id} was decommissioned at ${device.decommissionedAt}`,
        );
      await audited(request, 'device.decommission', 'device', async (trx) => {
        if (
          !(await decommissionDevice(trx, tenantId, device.id, app.updraft.now().toISOString()))
        ) {
          throw new ServerError(
            'RESOURCE_CONFLICT',
            `device ${device.id} is already decommissioned`,
          );
        }
        return {
          result: undefined,
          resourceId: device.id,
          change: { decommissioned: true, credentialsRevoked: true },
        };
      });
      app.updraft.deviceChanges.announce(tenantId, device.id);
      return requireDevice(app, tenantId, device.id);
    },
  );
};
