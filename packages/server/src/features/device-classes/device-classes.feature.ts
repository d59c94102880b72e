import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ActionService } from '../actions/action.service.js';
import type { CampaignEngineHandle } from '../campaigns/campaign-engine-port.js';
import type { WebhookPublisher } from '../webhooks/webhook-outbox.js';
import { DeviceClassService } from './device-class.service.js';
import { deviceClassesRoutes } from './device-classes.routes.js';

/** Device classes and their trusted keys, mounted at `/api/v1`. */
export const deviceClassesFeature: FastifyPluginAsyncTypebox<{
  events: WebhookPublisher;
  campaigns?: CampaignEngineHandle;
}> = async (app, { events, campaigns }) => {
  const { db, deviceChanges } = app.updraft;
  const now = () => app.updraft.now();
  const actions = new ActionService(db, now, deviceChanges, events, campaigns);
  await app.register(deviceClassesRoutes, { classes: new DeviceClassService(db, actions, now) });
};
