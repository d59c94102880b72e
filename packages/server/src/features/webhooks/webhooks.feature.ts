import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ResolveHost } from './target-guard.js';
import { webhookRoutes } from './webhook.routes.js';
import { WebhookService } from './webhook.service.js';
import type { WebhookOutbox } from './webhook-outbox.js';
import type { WebhookSecretBox } from './webhook-secret-box.js';

/**
 * Webhooks, mounted at `/api/v1`. The outbox, secret box and host resolver are built in
 * `build-server.ts` (the delivery worker and the publishing features share them).
 */
export const webhooksFeature: FastifyPluginAsyncTypebox<{
  outbox: WebhookOutbox;
  secrets: WebhookSecretBox;
  resolve: ResolveHost;
}> = async (app, { outbox, secrets, resolve }) => {
  await app.register(webhookRoutes, {
    webhooks: new WebhookService(app.updraft.db, outbox, secrets, resolve, () => app.updraft.now()),
  });
};
