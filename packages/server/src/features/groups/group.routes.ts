import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { userOf } from '../../http/access-control.js';
import { auditedBy } from '../../http/audit-hook.js';
import { FILTER_LIMITS } from '../filters/parse-filter.js';
import { GROUP_KINDS } from './group.repository.js';
import type { GroupService } from './group.service.js';

const Name = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._:-]+$' });
const DeviceRef = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:@-]+$' });
const DeviceRefs = Type.Array(DeviceRef, { maxItems: 1000 });
const Group = Type.Object({
  id: Type.String(),
  name: Type.String(),
  kind: Type.Enum(GROUP_KINDS),
  filter: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
});
const GroupView = Type.Object({
  ...Group.properties,
  deviceCount: Type.Integer(),
  members: Type.Optional(Type.Array(Type.String())),
});
const Params = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._:-]+$' }),
});

/** Device groups (static lists and dynamic saved filters), at `/api/v1/groups`. */
export const groupRoutes: FastifyPluginAsyncTypebox<{ groups: GroupService }> = async (
  app,
  { groups },
) => {
  app.post(
    '/groups',
    {
      config: { permission: 'devices:write' },
      schema: {
        tags: ['groups'],
        description:
          'Create a static group (`devices`: ids or names) or a dynamic one (`filter`: a target filter, docs/filters.md).',
        body: Type.Object(
          {
            name: Name,
            devices: Type.Optional(DeviceRefs),
            filter: Type.Optional(
              Type.String({ minLength: 1, maxLength: FILTER_LIMITS.maxLength }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 201: Group },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          await groups.create(
            auditedBy(request, 'group.create', 'group'),
            userOf(request).tenantId,
            request.body,
          ),
        ),
  );

  app.get(
    '/groups',
    {
      config: { permission: 'devices:read' },
      schema: { tags: ['groups'], response: { 200: Type.Object({ items: Type.Array(Group) }) } },
    },
    async (request) => ({ items: await groups.list(userOf(request).tenantId) }),
  );

  app.get(
    '/groups/:id',
    {
      config: { permission: 'devices:read' },
      schema: {
        tags: ['groups'],
        description:
          'The group (by id or name), its current device count and a static group’s members.',
        params: Params,
        response: { 200: GroupView },
      },
    },
    async (request) => groups.show(userOf(request).tenantId, request.params.id),
  );

  app.post(
    '/groups/:id/devices',
    {
      config: { permission: 'devices:write' },
      schema: {
        tags: ['groups'],
        description: 'Add and remove devices (ids or names) of a static group.',
        params: Params,
        body: Type.Object(
          { add: Type.Optional(DeviceRefs), remove: Type.Optional(DeviceRefs) },
          { additionalProperties: false },
        ),
        response: { 200: GroupView },
      },
    },
    async (request) =>
      groups.changeMembers(
        auditedBy(request, 'group.change-members', 'group'),
        userOf(request).tenantId,
        request.params.id,
        request.body,
      ),
  );

  app.delete(
    '/groups/:id',
    {
      config: { permission: 'devices:write' },
      schema: { tags: ['groups'], params: Params },
    },
    async (request, reply) => {
      await groups.delete(
        auditedBy(request, 'group.delete', 'group'),
        userOf(request).tenantId,
        request.params.id,
      );
      return reply.code(204).send();
    },
  );
};
