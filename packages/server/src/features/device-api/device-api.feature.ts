import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { MqttBus } from '../../mqtt/mqtt-bus.js';
import { SignedUrl } from '../../signed-url/signed-url.js';
import { ActionService } from '../actions/action.service.js';
import type { CampaignEngineHandle } from '../campaigns/campaign-engine-port.js';
import type { DeltaService } from '../deltas/delta.service.js';
import {
  DEFAULT_DEVICE_MQTT_LIMITS,
  DeviceMqttResponder,
} from '../device-mqtt/device-mqtt-responder.js';
import type { WebhookPublisher } from '../webhooks/webhook-outbox.js';
import { CheckInService } from './check-in.service.js';
import { deviceApiRoutes } from './device-api.routes.js';

/**
 * The native device API, mounted at `/api/device/v1` (docs/device-api.md). `deltaOffers` is the
 * app's delta service (wired in `build-server.ts`). With `mqtt`, the same API also answers over
 * MQTT (features/device-mqtt, docs/mqtt.md#device-api-over-mqtt).
 */
export const deviceApiFeature: FastifyPluginAsyncTypebox<{
  deltaOffers: DeltaService;
  /** The service's side of MQTT when `mqtt.mode` is not `off`. */
  mqtt?: MqttBus;
  /** Where a failed action's `action.failed` event goes. */
  events: WebhookPublisher;
  /** Poked when a report moves a campaign's target (its phase may advance at once). */
  campaigns?: CampaignEngineHandle;
}> = async (app, { deltaOffers, events, campaigns, mqtt }) => {
  const { db, config, deviceChanges } = app.updraft;
  const now = () => app.updraft.now();
  const urls = new SignedUrl(
    app.updraft.deriveKey('download-url'),
    config.device.downloadUrlTtlSeconds,
  );
  const { lastSeen } = app.updraft;
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
    app.updraft.downloadLinks,
  );
  const actions = new ActionService(db, now, deviceChanges, events, campaigns, app.updraft.push);
  await app.register(deviceApiRoutes, { checkIns, actions, urls, deltas: deltaOffers });
  if (mqtt !== undefined) {
    const responder = new DeviceMqttResponder({
      bus: mqtt,
      db,
      blobs: app.updraft.blobs,
      metrics: app.updraft.metrics,
      checkIns,
      actions,
      payloadUrls: urls,
      deltas: deltaOffers,
      now,
      limits: { ...DEFAULT_DEVICE_MQTT_LIMITS, chunkMaxBytes: config.mqtt.chunkMaxBytes },
      log: app.log,
    });
    await responder.start();
    // Before the database goes (onClose hooks of a plugin run before the root's).
    app.addHook('onClose', () => responder.close());
  }
};
