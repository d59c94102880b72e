import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { userOf } from '../../http/access-control.js';
import { auditedBy } from '../../http/audit-hook.js';
import type { WebhookService } from './webhook.service.js';
import { DELIVERY_STATES, WEBHOOK_EVENTS } from './webhook-events.js';

const Event = Type.Enum(WEBHOOK_EVENTS);
const WebhookSchema = Type.Object({
  id: Type.String(),
  url: Type.String(),
  events: Type.Array(Event),
  createdAt: Type.String(),
  createdBy: Type.Union([Type.String(), Type.Null()]),
});
const DeliverySchema = Type.Object({
  id: Type.String(),
  event: Type.String(),
  state: Type.Enum(DELIVERY_STATES),
  occurredAt: Type.String(),
  attempts: Type.Integer(),
  nextAttemptAt: Type.Union([Type.String(), Type.Null()]),
  log: Type.Array(
    Type.Object({
      attempt: Type.Integer(),
      at: Type.String(),
      statusCode: Type.Union([Type.Integer(), Type.Null()]),
      error: Type.Union([Type.String(), Type.Null()]),
      durationMs: Type.Integer(),
    }),
  ),
});
const SettingsSchema = Type.Object(
  { allowPrivateTargets: Type.Boolean() },
  { additionalProperties: false },
);
const IdParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }),
});

/** `/api/v1/webhooks`: subscriptions, their delivery log, test deliveries, tenant settings. */
export const webhookRoutes: FastifyPluginAsyncTypebox<{ webhooks: WebhookService }> = async (
  app,
  { webhooks },
) => {
  app.post(
    '/webhooks',
    {
      config: { permission: 'webhooks:write' },
      schema: {
        tags: ['webhooks'],
        description:
          'Subscribe a URL (http or https) to events. The answer holds the signing secret, shown only this once. A URL at a loopback, private, link-local or unique-local address is refused (422 WEBHOOK_TARGET_PRIVATE) unless the tenant allows private targets.',
        body: Type.Object(
          {
            url: Type.String({ minLength: 1, maxLength: 2048 }),
            events: Type.Array(Event, { minItems: 1, maxItems: WEBHOOK_EVENTS.length * 2 }),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ webhook: WebhookSchema, secret: Type.String() }) },
      },
    },
    async (request, reply) => {
      const user = userOf(request);
      const created = await webhooks.create(
        auditedBy(request, 'webhook.create', 'webhook'),
        user.tenantId,
        user.userId,
        request.body,
      );
      return reply.code(201).send(created);
    },
  );

  app.get(
    '/webhooks',
    {
      config: { permission: 'webhooks:read' },
      schema: {
        tags: ['webhooks'],
        description: "The tenant's webhooks (never their secrets).",
        response: { 200: Type.Object({ items: Type.Array(WebhookSchema) }) },
      },
    },
    async (request) => ({ items: await webhooks.list(userOf(request).tenantId) }),
  );

  app.get(
    '/webhooks/settings',
    {
      config: { permission: 'webhooks:read' },
      schema: {
        tags: ['webhooks'],
        description: "The tenant's webhook settings.",
        response: { 200: SettingsSchema },
      },
    },
    async (request) => webhooks.settings(userOf(request).tenantId),
  );

  app.put(
    '/webhooks/settings',
    {
      config: { permission: 'webhooks:write' },
      schema: {
        tags: ['webhooks'],
        description:
          '`allowPrivateTargets`: webhook URLs may point at loopback, private, link-local or unique-local addresses (default false).',
        body: SettingsSchema,
        response: { 200: SettingsSchema },
      },
    },
    async (request) =>
      webhooks.setSettings(
        auditedBy(request, 'webhook.settings', 'tenant'),
        userOf(request).tenantId,
        request.body,
      ),
  );

  app.delete(
    '/webhooks/:id',
    {
      config: { permission: 'webhooks:write' },
      schema: { tags: ['webhooks'], description: 'Unsubscribe.', params: IdParams },
    },
    async (request, reply) => {
      await webhooks.delete(
        auditedBy(request, 'webhook.delete', 'webhook'),
        userOf(request).tenantId,
        request.params.id,
      );
      return reply.code(204).send();
    },
  );

  app.post(
    '/webhooks/:id/test',
    {
      config: { permission: 'webhooks:write' },
      schema: {
        tags: ['webhooks'],
        description: 'Queue a `webhook.test` delivery to this webhook.',
        params: IdParams,
        response: { 202: Type.Object({ deliveryId: Type.String() }) },
      },
    },
    async (request, reply) =>
      reply
        .code(202)
        .send(
          await webhooks.test(
            auditedBy(request, 'webhook.test', 'webhook'),
            userOf(request).tenantId,
            request.params.id,
          ),
        ),
  );

  app.get(
    '/webhooks/:id/deliveries',
    {
      config: { permission: 'webhooks:read' },
      schema: {
        tags: ['webhooks'],
        description:
          "The webhook's latest deliveries, newest first, with each attempt's status code or error and duration.",
        params: IdParams,
        querystring: Type.Object({
          limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
        }),
        response: { 200: Type.Object({ items: Type.Array(DeliverySchema) }) },
      },
    },
    async (request) => ({
      items: await webhooks.deliveries(
        userOf(request).tenantId,
        request.params.id,
        request.query.limit,
      ),
    }),
  );
};
