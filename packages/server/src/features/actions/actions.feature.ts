import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { CampaignEngineHandle } from '../campaigns/campaign-engine-port.js';
import type { WebhookPublisher } from '../webhooks/webhook-outbox.js';
import { countActionsByState } from './action.repository.js';
import { actionRoutes } from './action.routes.js';
import { ActionService } from './action.service.js';

/** Actions (assign, cancel, history), mounted at `/api/v1`; also feeds the actions-by-state gauge. */
export const actionsFeature: FastifyPluginAsyncTypebox<{
  events: WebhookPublisher;
  /** Poked when a campaign action's report moves its target. */
  campaigns?: CampaignEngineHandle;
}> = async (app, { events, campaigns }) => {
  const { db, metrics, deviceChanges } = app.updraft;
  metrics.setActionsByStateSource(() => countActionsByState(db));
  await app.register(actionRoutes, {
    actions: new ActionService(
      db,
      () => app.updraft.now(),
      deviceChanges,
      events,
      campaigns,
      app.updraft.push,
    ),
  });
};
