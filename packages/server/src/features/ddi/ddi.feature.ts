import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { SignedUrl } from '../../signed-url/signed-url.js';
import { ActionService } from '../actions/action.service.js';
import type { CampaignEngineHandle } from '../campaigns/campaign-engine-port.js';
import type { WebhookPublisher } from '../webhooks/webhook-outbox.js';
import { ddiRoutes } from './ddi.routes.js';
import { DdiService } from './ddi.service.js';

/**
 * The hawkBit DDI API (docs/hawkbit-ddi.md), mounted at the root: `/{tenant}/controller/v1/…`
 * for controllers, `/api/v1/ddi/…` for its settings and gateway tokens. A view of the same
 * actions as the native device API.
 */
export const ddiFeature: FastifyPluginAsyncTypebox<{
  events: WebhookPublisher;
  campaigns?: CampaignEngineHandle;
}> = async (app, { events, campaigns }) => {
  const { db, config, deviceChanges } = app.updraft;
  const now = () => app.updraft.now();
  const urls = new SignedUrl(
    app.updraft.deriveKey('ddi-download-url'),
    config.device.downloadUrlTtlSeconds,
  );
  const { lastSeen } = app.updraft;
  const actions = new ActionService(db, now, deviceChanges, events, campaigns, app.updraft.push);
  const ddi = new DdiService(
    db,
    app.updraft.deviceAuth,
    actions,
    urls,
    lastSeen,
    now,
    config.device.pollIntervalSeconds,
    app.updraft.downloadLinks,
  );
  await app.register(ddiRoutes, { ddi, urls });
};
