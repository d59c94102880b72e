import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ActionService } from '../actions/action.service.js';
import type { WebhookPublisher } from '../webhooks/webhook-outbox.js';
import { DeviceClassService } from './device-class.service.js';
import { deviceClassesRoutes } from './device-classes.routes.js';

/** Device classes and their trusted keys, mounted at `/api/v1`. */
export const deviceClassesFeature: FastifyPluginAsyncTypebox<{ events: WebhookPublisher }> = async (
  app,
  { events },
) => {
  const { db, deviceChanges } = app.updraft;
  const now = () => app.updraft.now();
  const actions = new ActionService(db, now, deviceChanges, events);
  await app.register(deviceClassesRoutes, { classes: new DeviceClassService(db, actions, now) });
};
