import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { DeviceFilterService } from '../filters/device-filter.service.js';
import type { WebhookPublisher } from '../webhooks/webhook-outbox.js';
import { campaignRoutes } from './campaign.routes.js';
import { CampaignService } from './campaign.service.js';
import type { CampaignEngineHandle } from './campaign-engine-port.js';
import { CampaignEventStreams } from './campaign-event-stream.js';

/**
 * Campaign management (docs/campaigns.md), mounted at `/api/v1`. The engine that rolls campaigns
 * out is built in `build-server.ts`; this feature only pokes it after changes that give it work.
 */
export const campaignsFeature: FastifyPluginAsyncTypebox<{
  events: WebhookPublisher;
  engine: CampaignEngineHandle;
}> = async (app, { events, engine }) => {
  const { db, deviceChanges } = app.updraft;
  const now = () => app.updraft.now();
  const campaigns = new CampaignService(
    db,
    now,
    new DeviceFilterService(db, now),
    events,
    engine,
    deviceChanges,
    app.updraft.push,
  );
  const streams = new CampaignEventStreams(
    db,
    (tenantId, campaignId) => campaigns.status(tenantId, campaignId),
    app.log,
  );
  // Before the HTTP server closes: it would otherwise wait for the open streams forever.
  app.addHook('preClose', (done) => {
    streams.close();
    done();
  });
  await app.register(campaignRoutes, { campaigns, streams });
};
