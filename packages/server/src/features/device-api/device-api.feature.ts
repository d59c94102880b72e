import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { SignedUrl } from '../../signed-url/signed-url.js';
import { ActionService } from '../actions/action.service.js';
import type { CampaignEngineHandle } from '../campaigns/campaign-engine-port.js';
import type { DeltaOfferSource } from '../deltas/delta-offer.js';
import type { WebhookPublisher } from '../webhooks/webhook-outbox.js';
import { CheckInService } from './check-in.service.js';
import { deviceApiRoutes } from './device-api.routes.js';
import { LastSeenTracker } from './last-seen-tracker.js';

/**
 * The native device API, mounted at `/api/device/v1` (docs/device-api.md). `deltaOffers` is the
 * app's delta service (wired in `build-server.ts`).
 */
export const deviceApiFeature: FastifyPluginAsyncTypebox<{
  deltaOffers: DeltaOfferSource;
  /** Where a failed action's `action.failed` event goes. */
  events: WebhookPublisher;
  /** Poked when a report moves a campaign's target (its phase may advance at once). */
  campaigns?: CampaignEngineHandle;
}> = async (app, { deltaOffers, events, campaigns }) => {
  const { db, config, deviceChanges } = app.updraft;
  const now = () => app.updraft.now();
  const urls = new SignedUrl(
    app.updraft.deriveKey('download-url'),
    config.device.downloadUrlTtlSeconds,
  );
  const lastSeen = new LastSeenTracker(db, now);
  lastSeen.start();
  app.addHook('onClose', () => lastSeen.close());
  const idle = config.device.pollIntervalSeconds;
  const checkIns = new CheckInService(
    db,
    urls,
    { idle, active: Math.min(60, idle) },
    lastSeen,
    now,
    deviceChanges,
    deltaOffers,
    app.updraft.pushEndpoints,
  );
  await app.register(deviceApiRoutes, {
    checkIns,
    actions: new ActionService(db, now, deviceChanges, events, campaigns, app.updraft.push),
    urls,
  });
};
