import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { userOf } from '../../http/access-control.js';
import { audited } from '../../http/audit-hook.js';
import type { ChangeContext } from '../releases/release.service.js';
import type { DeviceClassService } from './device-class.service.js';
import { PUBLIC_KEY_FORMATS } from './parse-public-key.js';

const Id = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });
const Uuid = Type.String({
  pattern: '^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$',
});
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);
const ClassSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  vendorName: Nullable(Type.String()),
  modelName: Nullable(Type.String()),
  vendorId: Type.String(),
  classId: Type.String(),
  createdAt: Type.String(),
});
const KeySchema = Type.Object({
  id: Type.String(),
  deviceClassId: Type.String(),
  kid: Type.String(),
  format: Type.String(),
  algorithm: Type.String(),
  publicKeyPem: Type.String(),
  createdAt: Type.String(),
  revokedAt: Nullable(Type.String()),
  revokedBy: Nullable(Type.String()),
  revocationReason: Nullable(Type.String()),
});

function context(request: FastifyRequest): ChangeContext {
  const me = userOf(request);
  return { tenantId: me.tenantId, actorId: me.userId, ip: request.ip, requestId: request.id };
}

/**
 * Device classes (vendor-id/class-id) and their trusted signing keys. Mounted at `/api/v1`.
 * The rules live in {@link DeviceClassService}; the routes validate, call it inside the audited
 * transaction and shape the answer.
 */
export const deviceClassesRoutes: FastifyPluginAsyncTypebox<{
  classes: DeviceClassService;
}> = async (app, { classes }) => {
  app.post(
    '/device-classes',
    {
      config: { permission: 'classes:write' },
      schema: {
        tags: ['device-classes'],
        description:
          'Give vendorId+classId (UUIDs as in the manifest), or vendorName (the vendor domain, e.g. example.com) and modelName, from which they are derived with UUIDv5 as SUIT specifies.',
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 100 }),
            vendorId: Type.Optional(Uuid),
            classId: Type.Optional(Uuid),
            vendorName: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
            modelName: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
          },
          { additionalProperties: false },
        ),
        response: { 201: ClassSchema },
      },
    },
    async (request, reply) => {
      const { tenantId } = userOf(request);
      const created = await audited(
        request,
        'device-class.create',
        'device-class',
        async (trx) => {
          const view = await classes.create(trx, tenantId, request.body);
          return {
            result: view,
            resourceId: view.id,
            change: { name: view.name, vendorId: view.vendorId, classId: view.classId },
          };
        },
        201,
      );
      return reply.code(201).send(created);
    },
  );

  app.get(
    '/device-classes',
    {
      config: { permission: 'classes:read' },
      schema: {
        tags: ['device-classes'],
        response: { 200: Type.Object({ items: Type.Array(ClassSchema) }) },
      },
    },
    async (request) => ({ items: await classes.list(userOf(request).tenantId) }),
  );

  app.get(
    '/device-classes/:id',
    {
      config: { permission: 'classes:read' },
      schema: {
        tags: ['device-classes'],
        params: Type.Object({ id: Id }),
        response: { 200: ClassSchema },
      },
    },
    async (request) => classes.get(userOf(request).tenantId, request.params.id),
  );

  app.get(
    '/device-classes/:id/keys',
    {
      config: { permission: 'classes:read' },
      schema: {
        tags: ['device-classes'],
        params: Type.Object({ id: Id }),
        response: { 200: Type.Object({ items: Type.Array(KeySchema) }) },
      },
    },
    async (request) => ({
      items: await classes.keys(userOf(request).tenantId, request.params.id),
    }),
  );

  app.post(
    '/device-classes/:id/keys',
    {
      config: { permission: 'classes:write' },
      schema: {
        tags: ['device-classes'],
        description:
          'Trust a public signing key (PEM SPKI, or COSE_Key as hex CBOR) for this class.',
        params: Type.Object({ id: Id }),
        body: Type.Object(
          {
            format: Type.Enum(PUBLIC_KEY_FORMATS),
            key: Type.String({ minLength: 1, maxLength: 16_384 }),
          },
          { additionalProperties: false },
        ),
        response: { 201: KeySchema },
      },
    },
    async (request, reply) => {
      const ctx = context(request);
      const key = await audited(
        request,
        'trusted-key.add',
        'trusted-key',
        async (trx) => {
          const view = await classes.addKey(trx, ctx, request.params.id, request.body);
          return {
            result: view,
            resourceId: view.id,
            change: { deviceClassId: view.deviceClassId, kid: view.kid, algorithm: view.algorithm },
          };
        },
        201,
      );
      return reply.code(201).send(key);
    },
  );

  app.post(
    '/device-classes/:id/keys/:keyId/revoke',
    {
      config: { permission: 'classes:write' },
      schema: {
        tags: ['device-classes'],
        description:
          'Revokes the key. Every open action of a release it signed is canceled in the same transaction (listed in `canceledActionIds` and in the audit log).',
        params: Type.Object({ id: Id, keyId: Id }),
        body: Type.Object(
          { reason: Type.Optional(Type.String({ maxLength: 500 })) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            ...KeySchema.properties,
            canceledActionIds: Type.Array(Type.String()),
          }),
        },
      },
    },
    async (request) => {
      const ctx = context(request);
      const { id, keyId } = request.params;
      const reason = request.body.reason ?? null;
      const revocation = await audited(
        request,
        'trusted-key.revoke',
        'trusted-key',
        async (trx) => {
          const done = await classes.revokeKey(trx, ctx, id, keyId, reason);
          return {
            result: done,
            resourceId: keyId,
            change: {
              deviceClassId: id,
              kid: done.key.kid,
              revoked: true,
              reason,
              canceledActionIds: done.canceledActionIds,
            },
          };
        },
      );
      classes.announce(ctx.tenantId, revocation);
      return { ...revocation.key, canceledActionIds: [...revocation.canceledActionIds] };
    },
  );
};
