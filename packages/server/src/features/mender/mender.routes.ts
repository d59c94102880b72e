import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { deviceOf, userOf } from '../../http/access-control.js';
import { auditedBy } from '../../http/audit-hook.js';
import { ActionId } from '../device-api/device-api.schemas.js';
import { MENDER_LIMITS, type MenderService } from './mender.service.js';
import { MENDER_AUTH_SET_STATUSES } from './mender.table.js';
import { MENDER_STATUSES } from './mender-status.js';

const DEVICES = '/api/devices/v1';
const Short = (maxLength: number) => Type.String({ maxLength });
const Attributes = Type.Array(
  Type.Object(
    {
      name: Type.String({ minLength: 1, maxLength: MENDER_LIMITS.attributeNameChars }),
      value: Type.Union([
        Type.String({ maxLength: MENDER_LIMITS.attributeValueChars }),
        Type.Number(),
        Type.Boolean(),
        Type.Array(Type.Union([Type.String({ maxLength: 256 }), Type.Number()]), {
          maxItems: 64,
        }),
      ]),
      description: Type.Optional(Short(256)),
    },
    { additionalProperties: true },
  ),
  { maxItems: MENDER_LIMITS.attributes },
);
const Provides = Type.Record(Type.String({ maxLength: 128 }), Short(1024));

/**
 * The Mender device API, the subset mender-client 3.x uses (docs/mender-api.md), and the
 * management routes of Mender auth sets. Paths are Mender's own, so `ServerURL` can point here.
 */
export const menderRoutes: FastifyPluginAsyncTypebox<{ mender: MenderService }> = async (
  app,
  { mender },
) => {
  // auth_requests is signed over its raw bytes: keep them (bounded) and parse in the service.
  await app.register(async (raw) => {
    raw.addContentTypeParser(
      'application/json',
      { parseAs: 'buffer', bodyLimit: MENDER_LIMITS.authRequestBytes },
      (_request, body, done) => done(null, body),
    );
    raw.post(
      `${DEVICES}/authentication/auth_requests`,
      {
        // The signature over the body, by the key in it, is the credential (checked in the service).
        config: { permission: 'public' },
        schema: {
          summary: 'Mender: authenticate a device (X-MEN-Signature over the raw body)',
          tags: ['mender'],
        },
      },
      async (request, reply) => {
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const token = await mender.authRequest(body, request.headers['x-men-signature']);
        return reply.type('application/jwt').send(token);
      },
    );
  });

  const nextHandler = async (
    request: FastifyRequest,
    deviceType: string | undefined,
    reply: FastifyReply,
  ) => {
    // mender-client fetches the artifact with a plain GET: the URL must be absolute.
    const base = `${request.protocol}://${request.host}`;
    const deployment = await mender.next(deviceOf(request), deviceType, base);
    if (deployment === null) return reply.code(204).send();
    return deployment;
  };

  app.post(
    '/api/devices/v2/deployments/device/deployments/next',
    {
      config: { permission: 'device' },
      schema: {
        summary: 'Mender: the next deployment (v2)',
        tags: ['mender'],
        body: Type.Object({
          device_provides: Provides,
          update_control_map: Type.Optional(Type.Boolean()),
        }),
      },
    },
    async (request, reply) => nextHandler(request, request.body.device_provides.device_type, reply),
  );
  app.post(
    `${DEVICES}/deployments/device/deployments/next`,
    {
      config: { permission: 'device' },
      schema: { summary: 'Mender: the next deployment (v1)', tags: ['mender'], body: Provides },
    },
    async (request, reply) => nextHandler(request, request.body.device_type, reply),
  );
  app.get(
    `${DEVICES}/deployments/device/deployments/next`,
    {
      config: { permission: 'device' },
      schema: {
        summary: 'Mender: the next deployment (v1, GET)',
        tags: ['mender'],
        querystring: Type.Object({
          device_type: Type.Optional(Short(128)),
          artifact_name: Type.Optional(Short(256)),
        }),
      },
    },
    async (request, reply) => nextHandler(request, request.query.device_type, reply),
  );

  app.put(
    `${DEVICES}/deployments/device/deployments/:id/status`,
    {
      config: { permission: 'device' },
      schema: {
        summary: "Mender: report a deployment's status",
        tags: ['mender'],
        params: Type.Object({ id: ActionId }),
        body: Type.Object({
          status: Type.Union(MENDER_STATUSES.map((s) => Type.Literal(s))),
          substate: Type.Optional(Short(256)),
        }),
      },
    },
    async (request, reply) => {
      await mender.status(deviceOf(request), request.params.id, request.body.status);
      return reply.code(204).send();
    },
  );

  app.put(
    `${DEVICES}/deployments/device/deployments/:id/log`,
    {
      config: { permission: 'device' },
      bodyLimit: 1024 * 1024,
      schema: {
        summary: "Mender: upload a deployment's log (its tail is kept in the action's history)",
        tags: ['mender'],
        params: Type.Object({ id: ActionId }),
        body: Type.Object({
          messages: Type.Array(
            Type.Object(
              {
                timestamp: Type.Optional(Short(64)),
                level: Type.Optional(Short(32)),
                message: Type.Optional(Short(8192)),
              },
              { additionalProperties: true },
            ),
            { maxItems: 10_000 },
          ),
        }),
      },
    },
    async (request, reply) => {
      await mender.log(deviceOf(request), request.params.id, request.body.messages);
      return reply.code(204).send();
    },
  );

  for (const method of ['PUT', 'PATCH'] as const) {
    app.route({
      method,
      url: `${DEVICES}/inventory/device/attributes`,
      config: { permission: 'device' },
      schema: {
        summary: `Mender: ${method === 'PUT' ? 'replace' : 'update'} the reported attributes`,
        tags: ['mender'],
        body: Attributes,
      },
      handler: async (request, reply) => {
        await mender.inventory(deviceOf(request), request.body, method === 'PUT');
        return reply.code(200).send();
      },
    });
  }

  app.post(
    '/api/v1/mender/auth-sets',
    {
      config: { permission: 'pki:write' },
      schema: {
        summary: 'Pre-authorise a Mender identity and key (accepted on its first auth request)',
        tags: ['mender'],
        body: Type.Object({
          idData: Type.String({ minLength: 2, maxLength: MENDER_LIMITS.idDataChars }),
          pubkey: Type.String({ minLength: 1, maxLength: 4096 }),
          deviceClass: Type.String({ minLength: 1, maxLength: 128 }),
        }),
      },
    },
    async (request, reply) => {
      const view = await mender.preauthorize(
        auditedBy(request, 'mender.auth-set.preauthorize', 'mender-auth-set'),
        userOf(request).tenantId,
        request.body,
      );
      return reply.code(201).send(view);
    },
  );
  app.get(
    '/api/v1/mender/auth-sets',
    {
      config: { permission: 'pki:read' },
      schema: {
        summary: "The tenant's Mender auth sets, newest first",
        tags: ['mender'],
        querystring: Type.Object({
          status: Type.Optional(Type.Union(MENDER_AUTH_SET_STATUSES.map((s) => Type.Literal(s)))),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
        }),
      },
    },
    async (request) => {
      const { status, limit } = request.query;
      return { items: await mender.list(userOf(request).tenantId, status, limit ?? 100) };
    },
  );
};
