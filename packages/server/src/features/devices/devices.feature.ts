import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { DeviceFilterService } from '../filters/device-filter.service.js';
import type { WebhookPublisher } from '../webhooks/webhook-outbox.js';
import { deviceRoutes } from './device.routes.js';
import { DeviceService } from './device.service.js';

/** The device registry, mounted at `/api/v1`; registrations publish `device.registered`. */
export const devicesFeature: FastifyPluginAsyncTypebox<{ events: WebhookPublisher }> = async (
  app,
  { events },
) => {
  const { db, deviceChanges } = app.updraft;
  await app.register(deviceRoutes, {
    devices: new DeviceService(
      db,
      () => app.updraft.now(),
      deviceChanges,
      new DeviceFilterService(db, () => app.updraft.now()),
      events,
    ),
  });
};
