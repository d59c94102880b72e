import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { UpdraftApp } from '../http/app-types.js';
import type { MqttService } from '../mqtt/mqtt-service.js';
import { actionsFeature } from './actions/actions.feature.js';
import { auditFeature } from './audit/audit.feature.js';
import type { CampaignEngineService } from './campaigns/campaign-engine-port.js';
import { campaignsFeature } from './campaigns/campaigns.feature.js';
import { ddiFeature } from './ddi/ddi.feature.js';
import type { DeltaService } from './deltas/delta.service.js';
import { deltasFeature } from './deltas/deltas.feature.js';
import { deviceApiFeature } from './device-api/device-api.feature.js';
import { deviceClassesFeature } from './device-classes/device-classes.feature.js';
import { devicesFeature } from './devices/devices.feature.js';
import { groupsFeature } from './groups/groups.feature.js';
import { menderFeature } from './mender/mender.feature.js';
import type { MenderJwt } from './mender/mender-jwt.js';
import { overviewFeature } from './overview/overview.feature.js';
import { pkiFeature } from './pki/pki.feature.js';
import type { PkiService } from './pki/pki.service.js';
import { releasesFeature } from './releases/releases.feature.js';
import { systemFeature } from './system/system.feature.js';
import { usersFeature } from './users/users.feature.js';
import type { ResolveHost } from './webhooks/target-guard.js';
import type { WebhookOutbox } from './webhooks/webhook-outbox.js';
import type { WebhookSecretBox } from './webhooks/webhook-secret-box.js';
import type { WebhookWorker } from './webhooks/webhook-worker.js';
import { webhooksFeature } from './webhooks/webhooks.feature.js';

/** Services more than one feature uses, built once in `build-server.ts` and passed in. */
export interface FeatureWiring {
  /** Deltas: the deltas feature's routes and the device API's check-in offers share it. */
  readonly deltas: DeltaService;
  /**
   * Webhooks: features publish events into the outbox in their transactions; the worker
   * (started and stopped by `build-server.ts`) sends them.
   */
  readonly webhooks: {
    readonly outbox: WebhookOutbox;
    readonly secrets: WebhookSecretBox;
    readonly resolve: ResolveHost;
    readonly worker: WebhookWorker;
  };
  /**
   * Campaigns: the engine (started and stopped by `build-server.ts`); the campaign service and
   * the action service poke it after changes that may move a campaign.
   */
  readonly campaigns: {
    readonly engine: CampaignEngineService;
  };
  /** MQTT (docs/mqtt.md): the bus, push notices; the embedded broker listens in `startServer`. */
  readonly mqtt: MqttService;
  /** The Mender device API's token issuer (also read by the device authenticator). */
  readonly mender: {
    readonly jwt: MenderJwt;
  };
  /** Device identity: the PKI service (tenant CAs, enrollment, inventory, CRL). */
  readonly pki: {
    readonly service: PkiService;
  };
}

/** A feature plugin and the prefix it is mounted under (each one encapsulated). */
export interface FeatureMount {
  readonly name: string;
  readonly prefix: string;
  /** Registers the plugin with its options under {@link prefix}. */
  register(app: UpdraftApp): Promise<unknown>;
}

function mount<O extends Record<string, unknown>>(
  name: string,
  prefix: string,
  plugin: FastifyPluginAsyncTypebox<O>,
  options: O,
): FeatureMount {
  return { name, prefix, register: async (app) => app.register(plugin, { ...options, prefix }) };
}

/**
 * Every feature the server mounts, in order, with what each is given. Add one line per feature
 * (see docs/server.md). Management features go under `/api/v1`, device-facing ones under
 * `/api/device/v1`.
 */
export function featureMounts(wiring: FeatureWiring): readonly FeatureMount[] {
  const events = wiring.webhooks.outbox;
  const campaigns = wiring.campaigns.engine;
  return [
    mount('system', '', systemFeature, {}),
    mount('users', '/api/v1', usersFeature, {}),
    mount('audit', '/api/v1', auditFeature, {}),
    mount('device-classes', '/api/v1', deviceClassesFeature, { events, campaigns }),
    mount('devices', '/api/v1', devicesFeature, { events }),
    mount('groups', '/api/v1', groupsFeature, {}),
    mount('overview', '/api/v1', overviewFeature, {}),
    mount('releases', '/api/v1', releasesFeature(), {}),
    mount('actions', '/api/v1', actionsFeature, { events, campaigns }),
    mount('campaigns', '/api/v1', campaignsFeature, { events, engine: campaigns }),
    mount('device-api', '/api/device/v1', deviceApiFeature, {
      deltaOffers: wiring.deltas,
      events,
      campaigns,
      ...(wiring.mqtt.bus ? { mqtt: wiring.mqtt.bus } : {}),
    }),
    mount('mender', '', menderFeature, {
      jwt: wiring.mender.jwt,
      events,
      campaigns,
    }),
    mount('ddi', '', ddiFeature, { events, campaigns }),
    mount('deltas', '', deltasFeature, { deltas: wiring.deltas }),
    mount('pki', '', pkiFeature, { pki: wiring.pki.service }),
    mount('webhooks', '/api/v1', webhooksFeature, {
      outbox: wiring.webhooks.outbox,
      secrets: wiring.webhooks.secrets,
      resolve: wiring.webhooks.resolve,
    }),
  ];
}
