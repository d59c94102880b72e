import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { SignedUrl } from '../../signed-url/signed-url.js';
import { ActionService } from '../actions/action.service.js';
import type { CampaignEngineHandle } from '../campaigns/campaign-engine-port.js';
import type { WebhookPublisher } from '../webhooks/webhook-outbox.js';
import { menderRoutes } from './mender.routes.js';
import { MenderService } from './mender.service.js';
import type { MenderJwt } from './mender-jwt.js';

/**
 * The Mender device API (docs/mender-api.md), mounted at the root: its paths are Mender's.
 * Download URLs are the native device API's signed artifact URLs (same key, same route), so
 * Range, HEAD and revocation behave exactly as for Updraft's agent.
 */
export const menderFeature: FastifyPluginAsyncTypebox<{
  jwt: MenderJwt;
  events: WebhookPublisher;
  campaigns?: CampaignEngineHandle;
}> = async (app, { jwt, events, campaigns }) => {
  const { db, config, deviceChanges } = app.updraft;
  const now = () => app.updraft.now();
  const urls = new SignedUrl(
    app.updraft.deriveKey('download-url'),
    config.device.downloadUrlTtlSeconds,
  );
  const actions = new ActionService(db, now, deviceChanges, events, campaigns, app.updraft.push);
  const { lastSeen } = app.updraft;
  const mender = new MenderService({
    db,
    jwt,
    urls,
    actions,
    changes: deviceChanges,
    now,
    lastSeen,
    ...(app.updraft.downloadLinks ? { links: app.updraft.downloadLinks } : {}),
  });
  await app.register(menderRoutes, { mender });
};
