import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { rolesGrant } from '../../auth/permissions.js';
import { userOf } from '../../http/access-control.js';
import { auditedBy } from '../../http/audit-hook.js';
import { ActionSchema } from '../actions/action.routes.js';
import { FILTER_LIMITS } from '../filters/parse-filter.js';
import { ATTRIBUTE_NAME, DEVICE_SORTS } from './device.repository.js';
import { BULK_ACTIONS, type DeviceService, RECENT_ACTIONS } from './device.service.js';

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
/** A target filter's source; its own checks (and their positions) are the filter service's. */
const FilterSource = Type.String({ minLength: 1, maxLength: FILTER_LIMITS.maxLength });
/** A device in a path: its id or its name (an id wins over another device's equal name). */
const IdOrName = Type.String({
  minLength: 1,
  maxLength: 128,
  pattern: '^[A-Za-z0-9._:@-]+$',
  description: 'The device id or its name.',
});
const DeviceParams = Type.Object({ id: IdOrName });

/**
 * Device registry: pre-register, list/filter, show, attributes, tags, token, decommission, action
 * history. At `/api/v1`. `{id}` in a path is the device id or its name.
 */
export const deviceRoutes: FastifyPluginAsyncTypebox<{ devices: DeviceService }> = async (
  app,
  { devices },
) => {
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
      const created = await devices.register(
        auditedBy(request, 'device.register', 'device'),
        userOf(request).tenantId,
        request.body,
      );
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
    async (request) => ({
      items: await devices.registerBulk(
        auditedBy(request, 'device.register-bulk', 'device'),
        userOf(request).tenantId,
        request.body.devices,
      ),
    }),
  );

  app.post(
    '/devices/bulk-actions',
    {
      config: { permission: 'devices:write' },
      schema: {
        tags: ['devices'],
        description:
          'One action on many devices, in one transaction with one audit entry: `add-tags`/`remove-tags` (`tags`), `add-to-group` (`group`: a static group’s id or name), `decommission`. The devices are `deviceIds` (every one must exist) or all those matching `filter` (docs/filters.md; at most 10,000, else DEVICE_BULK_TOO_MANY). `matched`: devices addressed; `changed`: tags added/removed, members added, devices decommissioned.',
        body: Type.Object(
          {
            action: Type.Enum(BULK_ACTIONS),
            deviceIds: Type.Optional(
              Type.Array(Type.String({ minLength: 1, maxLength: 128 }), {
                minItems: 1,
                maxItems: 1000,
              }),
            ),
            filter: Type.Optional(
              Type.String({ minLength: 1, maxLength: FILTER_LIMITS.maxLength }),
            ),
            tags: Type.Optional(Type.Array(Tag, { minItems: 1, maxItems: 32 })),
            group: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            action: Type.Enum(BULK_ACTIONS),
            matched: Type.Integer(),
            changed: Type.Integer(),
          }),
        },
      },
    },
    async (request) =>
      devices.bulkAction(
        auditedBy(request, 'device.bulk-action', 'device'),
        userOf(request).tenantId,
        request.body,
      ),
  );

  app.get(
    '/devices',
    {
      config: { permission: 'devices:read' },
      schema: {
        tags: ['devices'],
        description:
          'Filter with repeated `tag=` and `attr=name=value` (reported or custom attributes), and `filter=` (a target filter, docs/filters.md); all must match.',
        querystring: Type.Object(
          {
            limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
            offset: Type.Integer({ minimum: 0, maximum: 10_000_000, default: 0 }),
            sort: Type.Enum(DEVICE_SORTS, { default: 'name' }),
            order: Type.Enum(['asc', 'desc'] as const, { default: 'asc' }),
            deviceClassId: Type.Optional(Id),
            state: Type.Optional(Type.Enum(['active', 'decommissioned'] as const)),
            namePrefix: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
            filter: Type.Optional(FilterSource),
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
      const page = await devices.list(userOf(request).tenantId, q);
      return { ...page, limit: q.limit, offset: q.offset };
    },
  );

  app.get(
    '/devices/count',
    {
      config: { permission: 'devices:read' },
      schema: {
        tags: ['devices'],
        description:
          'How many of the tenant’s devices match a target filter (docs/filters.md); FILTER_INVALID / FILTER_UNSUPPORTED with a `position` otherwise.',
        querystring: Type.Object({ filter: FilterSource }, { additionalProperties: false }),
        response: { 200: Type.Object({ count: Type.Integer() }) },
      },
    },
    async (request) => ({
      count: await devices.count(userOf(request).tenantId, request.query.filter),
    }),
  );

  app.get(
    '/devices/:id',
    {
      config: { permission: 'devices:read' },
      schema: {
        tags: ['devices'],
        description: `The device with its attributes, installed components, last seen and, for callers allowed to read actions, its ${RECENT_ACTIONS} most recent actions (all of them: GET /devices/{id}/actions).`,
        params: DeviceParams,
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
      // Field-level least privilege: action history only for roles that may read actions.
      return devices.show(user.tenantId, request.params.id, rolesGrant(user.roles, 'actions:read'));
    },
  );

  app.get(
    '/devices/:id/actions',
    {
      config: { permission: 'actions:read' },
      schema: {
        summary: "A device's action history, newest first",
        tags: ['actions'],
        params: DeviceParams,
        querystring: Type.Object({
          limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
        }),
        response: { 200: Type.Object({ items: Type.Array(ActionSchema) }) },
      },
    },
    async (request) => ({
      items: await devices.actions(
        userOf(request).tenantId,
        request.params.id,
        request.query.limit,
      ),
    }),
  );

  app.patch(
    '/devices/:id/attributes',
    {
      config: { permission: 'devices:write' },
      schema: {
        tags: ['devices'],
        description:
          'Merge custom attributes; a null value removes one. Reported attributes are the device’s own.',
        params: DeviceParams,
        body: Type.Record(
          Type.String({ pattern: ATTRIBUTE_NAME.source }),
          Type.Union([Value, Type.Null()]),
          { maxProperties: 64, additionalProperties: false },
        ),
        response: { 200: Detail },
      },
    },
    async (request) =>
      devices.setAttributes(
        auditedBy(request, 'device.set-attributes', 'device'),
        userOf(request).tenantId,
        request.params.id,
        request.body,
      ),
  );

  app.put(
    '/devices/:id/tags',
    {
      config: { permission: 'devices:write' },
      schema: {
        tags: ['devices'],
        params: DeviceParams,
        body: Type.Object(
          { tags: Type.Array(Tag, { maxItems: 32 }) },
          { additionalProperties: false },
        ),
        response: { 200: Detail },
      },
    },
    async (request) =>
      devices.setTags(
        auditedBy(request, 'device.set-tags', 'device'),
        userOf(request).tenantId,
        request.params.id,
        request.body.tags,
      ),
  );

  app.post(
    '/devices/:id/token',
    {
      config: { permission: 'devices:write' },
      schema: {
        tags: ['devices'],
        description:
          'Revokes the device’s current token and issues a new one, shown only in this response.',
        params: DeviceParams,
        response: { 200: Type.Object({ token: Type.String() }) },
      },
    },
    async (request) => ({
      token: await devices.rotateToken(
        auditedBy(request, 'device.rotate-token', 'device'),
        userOf(request).tenantId,
        request.params.id,
      ),
    }),
  );

  app.post(
    '/devices/:id/decommission',
    {
      config: { permission: 'devices:write' },
      schema: {
        tags: ['devices'],
        description: 'Revokes the device’s credentials; its history is kept.',
        params: DeviceParams,
        response: { 200: Detail },
      },
    },
    async (request) =>
      devices.decommission(
        auditedBy(request, 'device.decommission', 'device'),
        userOf(request).tenantId,
        request.params.id,
      ),
  );
};
