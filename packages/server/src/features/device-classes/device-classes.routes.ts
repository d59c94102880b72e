import { classIdFromName, formatUuid, parseUuid, vendorIdFromDomain } from '@updraft/core';
import { Type } from 'typebox';
import { ServerError } from '../../errors.js';
import { userOf } from '../../http/access-control.js';
import type { UpdraftFeature } from '../../http/app-types.js';
import { audited } from '../../http/audit-hook.js';
import {
  addTrustedKey,
  createDeviceClass,
  findConflictingClass,
  getDeviceClass,
  getTrustedKey,
  listDeviceClasses,
  listTrustedKeys,
  revokeTrustedKey,
} from './device-class.repository.js';
import { PUBLIC_KEY_FORMATS, parsePublicKey } from './parse-public-key.js';

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

/** Device classes (vendor-id/class-id) and their trusted signing keys. Mounted at `/api/v1`. */
export const deviceClassesRoutes: UpdraftFeature = async (app) => {
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
      const body = request.body;
      const vendorId = body.vendorId
        ? parseUuid(body.vendorId)
        : body.vendorName
          ? vendorIdFromDomain(body.vendorName)
          : undefined;
      if (!vendorId) throw new ServerError('RESOURCE_INVALID', 'give vendorId or vendorName');
      const classId = body.classId
        ? parseUuid(body.classId)
        : body.modelName
          ? classIdFromName(vendorId, body.modelName)
          : undefined;
      if (!classId) throw new ServerError('RESOURCE_INVALID', 'give classId or modelName');
      const ids = { vendorId: formatUuid(vendorId), classId: formatUuid(classId) };
      const conflict = await findConflictingClass(
        app.updraft.db,
        tenantId,
        body.name,
        ids.vendorId,
        ids.classId,
      );
      if (conflict)
        throw new ServerError(
          'RESOURCE_CONFLICT',
          `device class ${conflict.name} has this name or these ids`,
        );
      const created = await audited(
        request,
        'device-class.create',
        'device-class',
        async (trx) => {
          const view = await createDeviceClass(
            trx,
            tenantId,
            {
              name: body.name,
              vendorName: body.vendorName ?? null,
              modelName: body.modelName ?? null,
              ...ids,
            },
            app.updraft.now().toISOString(),
          );
          return { result: view, resourceId: view.id, change: { name: view.name, ...ids } };
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
    async (request) => ({
      items: await listDeviceClasses(app.updraft.db, userOf(request).tenantId),
    }),
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
    async (request) => {
      const found = await getDeviceClass(
        app.updraft.db,
        userOf(request).tenantId,
        request.params.id,
      );
      if (!found)
        throw new ServerError('RESOURCE_NOT_FOUND', `no device class ${request.params.id}`);
      return found;
    },
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
    async (request) => {
      const { tenantId } = userOf(request);
      if (!(await getDeviceClass(app.updraft.db, tenantId, request.params.id))) {
        throw new ServerError('RESOURCE_NOT_FOUND', `no device class ${request.params.id}`);
      }
      return { items: await listTrustedKeys(app.updraft.db, tenantId, request.params.id) };
    },
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
      const me = userOf(request);
      const cls = await getDeviceClass(app.updraft.db, me.tenantId, request.params.id);
      if (!cls) throw new ServerError('RESOURCE_NOT_FOUND', `no device class ${request.params.id}`);
      const parsed = parsePublicKey(request.body.format, request.body.key);
      const existing = await listTrustedKeys(app.updraft.db, me.tenantId, cls.id);
      if (existing.some((k) => k.kid === parsed.kid)) {
        throw new ServerError(
          'RESOURCE_CONFLICT',
          `key ${parsed.kid} is already recorded for this class (revoked keys stay revoked)`,
        );
      }
      const key = await audited(
        request,
        'trusted-key.add',
        'trusted-key',
        async (trx) => {
          const view = await addTrustedKey(
            trx,
            me.tenantId,
            { deviceClassId: cls.id, ...parsed, source: request.body.key, createdBy: me.userId },
            app.updraft.now().toISOString(),
          );
          return {
            result: view,
            resourceId: view.id,
            change: { deviceClassId: cls.id, kid: view.kid, algorithm: view.algorithm },
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
        params: Type.Object({ id: Id, keyId: Id }),
        body: Type.Object(
          { reason: Type.Optional(Type.String({ maxLength: 500 })) },
          { additionalProperties: false },
        ),
        response: { 200: KeySchema },
      },
    },
    async (request) => {
      const me = userOf(request);
      const { id, keyId } = request.params;
      const key = await getTrustedKey(app.updraft.db, me.tenantId, id, keyId);
      if (!key) throw new ServerError('RESOURCE_NOT_FOUND', `no key ${keyId} in class ${id}`);
      if (key.revokedAt)
        throw new ServerError('RESOURCE_CONFLICT', `key ${keyId} was revoked at ${key.revokedAt}`);
      await audited(request, 'trusted-key.revoke', 'trusted-key', async (trx) => {
        const done = await revokeTrustedKey(
          trx,
          me.tenantId,
          id,
          keyId,
          me.userId,
          request.body.reason ?? null,
          app.updraft.now().toISOString(),
        );
        if (!done) throw new ServerError('RESOURCE_CONFLICT', `key ${keyId} is already revoked`);
        return {
          result: undefined,
          resourceId: keyId,
          change: {
            deviceClassId: id,
            kid: key.kid,
            revoked: true,
            reason: request.body.reason ?? null,
          },
        };
      });
      return (await getTrustedKey(app.updraft.db, me.tenantId, id, keyId)) ?? key;
    },
  );
};
