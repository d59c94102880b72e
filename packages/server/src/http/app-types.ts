import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type {
  FastifyPluginAsyncTypebox,
  TypeBoxTypeProvider,
} from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type { DeviceAuthenticator } from '../auth/device-authenticator.js';
import type { RouteAccess } from '../auth/permissions.js';
import type { Principal } from '../auth/principal.js';
import type { ServerConfig } from '../config/config.js';
import type { Database } from '../db/database.js';
import type { DeviceChangeFeed } from '../db/device-changes.js';
import type { DialectSupport } from '../db/dialect-support.js';
import type { LastSeenTracker } from '../features/device-api/last-seen-tracker.js';
import type { FeatureWiring } from '../features/features.js';
import type { Metrics } from '../metrics/metrics.js';
import type { PushEndpoints } from '../mqtt/push-endpoints.js';
import type { PushNotices } from '../mqtt/push-notifier.js';
import type { BlobStore } from '../ports/blob-store.js';
import type { DownloadLinks } from '../ports/download-links.js';
import type { ObjectStore } from '../ports/object-store.js';
import type { PeerCertificateReader } from '../tls/peer-certificate.js';
import type { ServerTlsMaterial } from '../tls/server-tls.js';
import type { Dashboard } from './dashboard.js';
import type { DeviceLoadShedder } from './device-load-shedding.js';
import type { Drain } from './drain.js';
import type { RateLimiter } from './rate-limit.js';

/** Shared services, decorated on the root instance and visible to every feature plugin. */
export interface UpdraftServices {
  readonly config: ServerConfig;
  readonly db: Kysely<Database>;
  readonly dbSupport: DialectSupport;
  readonly blobs: BlobStore;
  /** With `blobs.store=s3`: pre-signed GET URLs of blobs on the bucket (direct downloads). */
  readonly objectStore?: ObjectStore;
  readonly metrics: Metrics;
  readonly deviceAuth: DeviceAuthenticator;
  /** Device changes from every replica; write paths announce theirs after commit. */
  readonly deviceChanges: DeviceChangeFeed;
  /** Bounds the device requests worked on at once (`device.maxPendingRequests`). */
  readonly deviceLoad: DeviceLoadShedder;
  /** Request and failed-authentication budgets (see http/rate-limit.ts). */
  readonly limiter: RateLimiter;
  /** Key material derived from the master key for a named purpose (e.g. `download-url`). */
  deriveKey(purpose: string): Buffer;
  /** The current time (`ServerDeps.now`; tests inject a fixed clock). */
  now(): Date;
  /** MQTT push notices (docs/mqtt.md); a no-op when `mqtt.mode=off`. Call after commit. */
  readonly push: PushNotices;
  /** The `push` part of check-in answers; absent when `mqtt.mode=off`. */
  readonly pushEndpoints?: PushEndpoints;
  /** The client's certificates of a request (use `peerCertificates(request)`). */
  readonly peerCertificates: PeerCertificateReader;
  /** The listener's certificate and the pinned CA file, when `tls.enabled`. */
  readonly serverTls?: ServerTlsMaterial;
  /**
   * `devices.last_seen_at`, written behind in batches: ONE for every device protocol (native,
   * MQTT, hawkBit DDI, Mender), so a device seen on several costs one write per flush.
   */
  readonly lastSeen: LastSeenTracker;
  /** Set on SIGTERM: /readyz fails and responses close their connection (http/drain.ts). */
  readonly drain: Drain;
  /**
   * Direct download links on the object store or CDN (`blobs.store=s3`, `downloads.direct`);
   * absent: devices download through the service's own signed URLs.
   */
  readonly downloadLinks?: DownloadLinks;
}

declare module 'fastify' {
  interface FastifyInstance {
    readonly updraft: UpdraftServices;
    /**
     * The services shared between features, as `build-server.ts` wired them. Features get theirs
     * as plugin options; this handle is for tests and introspection.
     */
    readonly wiring: FeatureWiring;
    /** The dashboard served at `/` (http/dashboard.ts): whether it is built. */
    readonly dashboard: Dashboard;
  }
  interface FastifyRequest {
    /** Set by the auth hook before any handler runs; `null` only on `public` routes. */
    principal: Principal | null;
    /** True once a handler appended its own audit entry (the central hook then adds none). */
    auditWritten: boolean;
  }
  interface FastifyContextConfig {
    /** Who may call this route. Required on every route: a route without it is denied. */
    permission?: RouteAccess;
  }
}

/** The Fastify instance type every feature plugin receives (TypeBox type provider). */
export type UpdraftApp = FastifyInstance<
  Server,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** A feature plugin: registered encapsulated, under its prefix. */
export type UpdraftFeature = FastifyPluginAsyncTypebox;
