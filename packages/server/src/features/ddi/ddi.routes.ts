import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { type Static, Type } from 'typebox';
import { ServerError } from '../../errors.js';
import { userOf } from '../../http/access-control.js';
import { auditedBy } from '../../http/audit-hook.js';
import { refuseOtherDevice, verifySignedBlob } from '../../signed-url/signed-blob-route.js';
import type { SignedUrl } from '../../signed-url/signed-url.js';
import { peerCertificates } from '../../tls/peer-certificate.js';
import { sendBlob } from '../device-api/send-blob.js';
import { ATTRIBUTE_NAME } from '../devices/device.repository.js';
import { CONFIG_DATA_MODES, findControllerDevice } from './ddi.repository.js';
import type { DdiController, DdiFeedback, DdiService } from './ddi.service.js';
import { DDI_EXECUTIONS, DDI_FINISHED } from './ddi-feedback.js';

/** Services the DDI routes run on. */
export interface DdiRoutesOptions {
  readonly ddi: DdiService;
  readonly urls: SignedUrl;
}

const Tenant = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' });
const ControllerId = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:@-]+$' });
// SWUpdate parses action ids as a C int: ours stay below 2^31.
const ActionNumber = Type.String({ pattern: '^[0-9]{1,9}$' });
const ControllerParams = Type.Object({ tenant: Tenant, controllerId: ControllerId });
const ActionParams = Type.Object({
  tenant: Tenant,
  controllerId: ControllerId,
  actionId: ActionNumber,
});

/**
 * Feedback bodies are small: SWUpdate sends at most 48 details of at most a log line (2 KiB)
 * each; 128 KiB bounds that with room to spare.
 */
const BODY_LIMIT = 128 * 1024;

const FeedbackBody = Type.Object({
  id: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Integer()])),
  time: Type.Optional(Type.String({ maxLength: 64 })),
  timestamp: Type.Optional(Type.Integer()),
  status: Type.Object({
    execution: Type.Unsafe<(typeof DDI_EXECUTIONS)[number]>({
      type: 'string',
      enum: [...DDI_EXECUTIONS],
    }),
    result: Type.Object({
      finished: Type.Unsafe<(typeof DDI_FINISHED)[number]>({
        type: 'string',
        enum: [...DDI_FINISHED],
      }),
      progress: Type.Optional(
        Type.Object({
          cnt: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
          of: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
        }),
      ),
    }),
    code: Type.Optional(Type.Integer()),
    details: Type.Optional(Type.Array(Type.String({ maxLength: 2048 }), { maxItems: 64 })),
  }),
});
/** A feedback body (deployment or cancel) as the service takes it. */
function feedbackOf({ status }: Static<typeof FeedbackBody>): DdiFeedback {
  return {
    execution: status.execution,
    finished: status.result.finished,
    progress: status.result.progress,
    details: status.details ?? [],
  };
}

const ConfigDataBody = Type.Object({
  id: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Integer()])),
  time: Type.Optional(Type.String({ maxLength: 64 })),
  status: Type.Optional(Type.Unknown()),
  mode: Type.Optional(
    Type.Unsafe<(typeof CONFIG_DATA_MODES)[number]>({
      type: 'string',
      enum: [...CONFIG_DATA_MODES],
    }),
  ),
  data: Type.Record(
    Type.String({ pattern: ATTRIBUTE_NAME.source }),
    Type.String({ maxLength: 256 }),
    {
      maxProperties: 64,
    },
  ),
});

const Link = Type.Object({ href: Type.String() });
const SignedQuery = Type.Object({
  t: Type.Optional(Type.String({ maxLength: 128 })),
  d: Type.Optional(Type.String({ maxLength: 128 })),
  a: Type.Optional(Type.String({ maxLength: 128 })),
  k: Type.Optional(Type.String({ maxLength: 128 })),
  exp: Type.Optional(Type.String({ maxLength: 20 })),
  sig: Type.Optional(Type.String({ maxLength: 128 })),
});

/**
 * The hawkBit DDI API v1 under `/{tenant}/controller/v1/{controllerId}` (docs/hawkbit-ddi.md).
 * Routes are `public` to the access control: DDI's own credentials (`TargetToken`,
 * `GatewayToken`, a client certificate) are checked here by {@link DdiService.authenticate},
 * and a failure counts against the caller's address like any failed authentication.
 */
export const ddiRoutes: FastifyPluginAsyncTypebox<DdiRoutesOptions> = async (
  app,
  { ddi, urls },
) => {
  const controllerOf = async (request: FastifyRequest): Promise<DdiController> => {
    const { tenant, controllerId } = request.params as { tenant: string; controllerId: string };
    try {
      const header = request.headers.authorization;
      const ctl = await ddi.authenticate(
        {
          authorization: typeof header === 'string' ? header : undefined,
          peerCertificates: peerCertificates(request),
        },
        tenant,
        controllerId,
        request.id,
      );
      request.principal = {
        kind: 'device',
        tenantId: ctl.tenantId,
        deviceId: ctl.deviceId,
        deviceClassId: ctl.deviceClassId,
      };
      return ctl;
    } catch (error) {
      if (error instanceof ServerError && error.status === 401)
        throw app.updraft.limiter.failed(request.ip, error);
      throw error;
    }
  };
  const baseOf = (request: FastifyRequest): string => {
    const { tenant, controllerId } = request.params as { tenant: string; controllerId: string };
    return `${request.protocol}://${request.host}/${tenant}/controller/v1/${encodeURIComponent(controllerId)}`;
  };
  const tags = ['ddi'];
  const root = '/:tenant/controller/v1/:controllerId';

  app.get(
    root,
    {
      config: { permission: 'public' },
      schema: {
        summary:
          'DDI root poll: polling sleep and links to the open action, config data, installed base',
        tags,
        params: ControllerParams,
        response: {
          200: Type.Object({
            config: Type.Object({ polling: Type.Object({ sleep: Type.String() }) }),
            _links: Type.Record(Type.String(), Link),
          }),
        },
      },
    },
    async (request, reply) => {
      const ctl = await controllerOf(request);
      reply.header('cache-control', 'no-cache');
      return ddi.poll(ctl, baseOf(request));
    },
  );

  for (const [path, installed] of [
    ['deploymentBase', false],
    ['installedBase', true],
  ] as const) {
    app.get(
      `${root}/${path}/:actionId`,
      {
        config: { permission: 'public' },
        schema: {
          summary: installed
            ? 'DDI: the last successfully installed action'
            : 'DDI: the open action with its chunks, artifacts and handling',
          tags,
          params: ActionParams,
          querystring: Type.Object({ c: Type.Optional(Type.String({ maxLength: 64 })) }),
        },
      },
      async (request) => {
        const ctl = await controllerOf(request);
        return ddi.deployment(ctl, Number(request.params.actionId), baseOf(request), installed);
      },
    );
  }

  app.post(
    `${root}/deploymentBase/:actionId/feedback`,
    {
      bodyLimit: BODY_LIMIT,
      config: { permission: 'public' },
      schema: {
        summary: 'DDI: feedback on the action (execution, result, progress, details)',
        tags,
        params: ActionParams,
        body: FeedbackBody,
      },
    },
    async (request, reply) => {
      const ctl = await controllerOf(request);
      await ddi.feedback(ctl, Number(request.params.actionId), feedbackOf(request.body));
      return reply.code(200).send();
    },
  );

  app.get(
    `${root}/cancelAction/:actionId`,
    {
      config: { permission: 'public' },
      schema: { summary: 'DDI: the cancel request of an action', tags, params: ActionParams },
    },
    async (request) => {
      const ctl = await controllerOf(request);
      return ddi.cancelAction(ctl, Number(request.params.actionId));
    },
  );

  app.post(
    `${root}/cancelAction/:actionId/feedback`,
    {
      bodyLimit: BODY_LIMIT,
      config: { permission: 'public' },
      schema: {
        summary: 'DDI: acknowledge (closed/canceled) or reject a cancel request',
        tags,
        params: ActionParams,
        body: FeedbackBody,
      },
    },
    async (request, reply) => {
      const ctl = await controllerOf(request);
      await ddi.cancelFeedback(ctl, Number(request.params.actionId), feedbackOf(request.body));
      return reply.code(200).send();
    },
  );

  app.put(
    `${root}/configData`,
    {
      bodyLimit: BODY_LIMIT,
      config: { permission: 'public' },
      schema: {
        summary: "DDI: the controller's attributes (stored as reported attributes)",
        tags,
        params: ControllerParams,
        body: ConfigDataBody,
      },
    },
    async (request, reply) => {
      const ctl = await controllerOf(request);
      const bad = Object.keys(request.body.data).filter((name) => !ATTRIBUTE_NAME.test(name));
      if (bad.length > 0) {
        throw new ServerError(
          'HTTP_VALIDATION_FAILED',
          `attribute names must match ${ATTRIBUTE_NAME.source}`,
          {
            details: { names: bad.slice(0, 10) },
          },
        );
      }
      await ddi.configData(ctl, request.body.data, request.body.mode ?? 'merge');
      return reply.code(200).send();
    },
  );

  app.route({
    method: ['GET', 'HEAD'],
    url: `${root}/softwaremodules/:moduleId/artifacts/:fileName`,
    config: { permission: 'public' },
    schema: {
      summary: 'DDI: download an artifact (Range, HEAD) or its .MD5SUM',
      tags,
      params: Type.Object({
        tenant: Tenant,
        controllerId: ControllerId,
        moduleId: Type.String({ maxLength: 128, pattern: '^[A-Za-z0-9_-]+$' }),
        fileName: Type.String({ minLength: 1, maxLength: 255 }),
      }),
      querystring: SignedQuery,
    },
    handler: async (request, reply) => {
      const { tenant, controllerId, moduleId, fileName } = request.params as {
        tenant: string;
        controllerId: string;
        moduleId: string;
        fileName: string;
      };
      const query = request.query as Record<string, string | undefined>;
      const md5sum = fileName.endsWith('.MD5SUM');
      const name = md5sum ? fileName.slice(0, -'.MD5SUM'.length) : fileName;
      let tenantId: string;
      if (query.sig !== undefined) {
        // A signed link from deploymentBase: clients such as SWUpdate download without a token.
        const found = await ddi.tenantOf(tenant);
        if (found === undefined) throw new ServerError('RESOURCE_NOT_FOUND', 'no such artifact');
        tenantId = found;
        const payload = await ddi.payloadFor(tenantId, moduleId, name);
        if (payload === undefined) throw new ServerError('RESOURCE_NOT_FOUND', 'no such artifact');
        const claims = await verifySignedBlob(
          urls,
          app.updraft.db,
          payload.sha256,
          query,
          app.updraft.now().getTime(),
        );
        const device = await findControllerDevice(app.updraft.db, tenantId, controllerId);
        if (claims.tenantId !== tenantId || device?.id !== claims.deviceId)
          throw new ServerError(
            'DEVICE_URL_INVALID',
            'this download URL was issued to another controller',
          );
        if (request.headers.authorization !== undefined) {
          const ctl = await controllerOf(request);
          refuseOtherDevice(claims, ctl);
        }
      } else {
        const ctl = await controllerOf(request);
        tenantId = ctl.tenantId;
        if (!(await ddi.mayDownload(ctl, moduleId)))
          throw new ServerError('RESOURCE_NOT_FOUND', 'no such artifact');
      }
      const payload = await ddi.payloadFor(tenantId, moduleId, name);
      if (payload === undefined) throw new ServerError('RESOURCE_NOT_FOUND', 'no such artifact');
      if (md5sum) {
        const text = `${payload.md5}  ${name}\n`;
        reply.type('text/plain; charset=utf-8').header('content-length', Buffer.byteLength(text));
        return reply.send(request.method === 'HEAD' ? undefined : text);
      }
      const { metrics } = app.updraft;
      return sendBlob(
        request,
        reply,
        app.updraft.blobs,
        { digest: payload.sha256, size: Number(payload.size) },
        (sent) => {
          metrics.downloads.inc({ kind: sent.kind });
          metrics.downloadBytes.inc(sent.length);
        },
      );
    },
  });

  // --- management: settings and gateway tokens ------------------------------------------

  const Settings = Type.Object(
    {
      autoRegister: Type.Boolean(),
      deviceClassId: Type.Union([Type.String({ maxLength: 64 }), Type.Null()]),
      pollingSleepSeconds: Type.Integer({ minimum: 5, maximum: 86_399 }),
    },
    { additionalProperties: false },
  );
  const GatewayToken = Type.Object({
    id: Type.String(),
    name: Type.String(),
    deviceClassId: Type.Union([Type.String(), Type.Null()]),
    createdAt: Type.String(),
    createdBy: Type.Union([Type.String(), Type.Null()]),
    revokedAt: Type.Union([Type.String(), Type.Null()]),
  });
  const mtags = ['ddi'];

  app.get(
    '/api/v1/ddi/settings',
    {
      config: { permission: 'settings:read' },
      schema: {
        tags: mtags,
        description: "The tenant's hawkBit DDI settings.",
        response: { 200: Settings },
      },
    },
    async (request) => ddi.settings(userOf(request).tenantId),
  );

  app.put(
    '/api/v1/ddi/settings',
    {
      config: { permission: 'settings:write' },
      schema: {
        tags: mtags,
        description:
          '`autoRegister`: controllers unknown to Updraft that poll with a gateway token are registered into `deviceClassId` (plug-and-play); `pollingSleepSeconds`: the `config.polling.sleep` told to controllers.',
        body: Settings,
        response: { 200: Settings },
      },
    },
    async (request) =>
      ddi.setSettings(
        auditedBy(request, 'ddi.settings', 'tenant'),
        userOf(request).tenantId,
        request.body,
      ),
  );

  app.get(
    '/api/v1/ddi/gateway-tokens',
    {
      config: { permission: 'devices:read' },
      schema: {
        tags: mtags,
        description: "The tenant's DDI gateway tokens (never the tokens themselves).",
        response: { 200: Type.Object({ items: Type.Array(GatewayToken) }) },
      },
    },
    async (request) => ({ items: await ddi.gatewayTokens(userOf(request).tenantId) }),
  );

  app.post(
    '/api/v1/ddi/gateway-tokens',
    {
      config: { permission: 'devices:write' },
      schema: {
        tags: mtags,
        description:
          'Create a gateway token (`Authorization: GatewayToken …`): it acts for every controller of the tenant, or of `deviceClassId` only. The token is in this answer only.',
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 128 }),
            deviceClassId: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Null()])),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ token: Type.String(), info: GatewayToken }) },
      },
    },
    async (request, reply) => {
      const user = userOf(request);
      const created = await ddi.createGatewayToken(
        auditedBy(request, 'ddi.gateway-token.create', 'ddi-gateway-token'),
        user.tenantId,
        user.userId,
        { name: request.body.name, deviceClassId: request.body.deviceClassId ?? null },
      );
      return reply.code(201).send(created);
    },
  );

  app.delete(
    '/api/v1/ddi/gateway-tokens/:id',
    {
      config: { permission: 'devices:write' },
      schema: {
        tags: mtags,
        description: 'Revoke a gateway token: the next DDI request with it fails (401).',
        params: Type.Object({ id: Type.String({ maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }) }),
      },
    },
    async (request, reply) => {
      await ddi.revokeGatewayToken(
        auditedBy(request, 'ddi.gateway-token.revoke', 'ddi-gateway-token'),
        userOf(request).tenantId,
        request.params.id,
      );
      return reply.code(204).send();
    },
  );
};
