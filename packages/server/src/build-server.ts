import { randomUUID } from 'node:crypto';
import type { Writable } from 'node:stream';
import type { Server as TlsServer } from 'node:tls';
import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import { pino } from 'pino';
import { createBlobStore } from './adapters/create-blob-store.js';
import { PlaintextCachingBlobStore } from './adapters/plaintext-cache/plaintext-cache.js';
import {
  BearerDeviceAuthenticator,
  type DeviceAuthenticator,
} from './auth/device-authenticator.js';
import { DeviceSessionCache } from './auth/device-session-cache.js';
import { FirstDeviceAuthenticator } from './auth/first-device-authenticator.js';
import { bootstrapAdmin } from './bootstrap.js';
import type { ServerConfig } from './config/config.js';
import { prepareDataDir } from './data-dir.js';
import { createDatabase, type DatabaseHandle } from './db/create-database.js';
import { migrateToLatest } from './db/migrate.js';
import { CampaignEngine } from './features/campaigns/campaign-engine.js';
import type { CampaignEngineService } from './features/campaigns/campaign-engine-port.js';
import {
  DEFAULT_DELTA_LIMITS,
  type DeltaLimits,
  DeltaService,
} from './features/deltas/delta.service.js';
import { type DeltaEncoder, workerEncoder } from './features/deltas/delta-encoder.js';
import { LastSeenTracker } from './features/device-api/last-seen-tracker.js';
import { type FeatureWiring, featureMounts } from './features/features.js';
import { DeviceFilterService } from './features/filters/device-filter.service.js';
import { MenderJwt } from './features/mender/mender-jwt.js';
import { MenderJwtAuthenticator } from './features/mender/mender-jwt-authenticator.js';
import { PkiService } from './features/pki/pki.service.js';
import { CaKeyBox } from './features/pki/tenant-ca.js';
import { type ResolveHost, systemResolve } from './features/webhooks/target-guard.js';
import { WebhookOutbox } from './features/webhooks/webhook-outbox.js';
import { WebhookSecretBox } from './features/webhooks/webhook-secret-box.js';
import {
  nodeWebhookTransport,
  type WebhookTransport,
} from './features/webhooks/webhook-transport.js';
import { WebhookWorker } from './features/webhooks/webhook-worker.js';
import { installAccessControl } from './http/access-control.js';
import type { UpdraftApp, UpdraftServices } from './http/app-types.js';
import { installAuditHook } from './http/audit-hook.js';
import { SESSION_COOKIE } from './http/browser-session.js';
import { createRateLimiter } from './http/create-rate-limiter.js';
import { type Dashboard, DEFAULT_DASHBOARD_DIR, mountDashboard } from './http/dashboard.js';
import { DeviceLoadShedder } from './http/device-load-shedding.js';
import { Drain } from './http/drain.js';
import { installProblemHandlers } from './http/problem.js';
import { installRateLimits } from './http/rate-limit.js';
import { lazyChildLogger, UpdraftLogController } from './http/request-log.js';
import { installValidators } from './http/validators.js';
import { Metrics } from './metrics/metrics.js';
import type { IdentifyDeviceCertificate } from './mqtt/device-certificate-identity.js';
import type { MqttBus } from './mqtt/mqtt-bus.js';
import { createMqttService, type MqttService } from './mqtt/mqtt-service.js';
import type { BlobStore } from './ports/blob-store.js';
import { deriveKey, loadOrCreateMasterKey } from './secrets/master-key.js';
import { createDownloadLinks } from './signed-url/create-download-links.js';
import { SignedUrl } from './signed-url/signed-url.js';
import { DEFAULT_TENANT_ID, ensureTenant } from './tenants/tenant.repository.js';
import { CertificateDeviceAuthenticator } from './tls/certificate-device-authenticator.js';
import { peerCertificateReader } from './tls/peer-certificate.js';
import { listenerTlsOptions, loadServerTls, secureContextOptions } from './tls/server-tls.js';

/** Replaceable parts of the server; anything absent is built from the configuration. */
export interface ServerDeps {
  /** An open database (tests pass one per dialect); closed with the app only if built here. */
  readonly database?: DatabaseHandle;
  readonly blobs?: BlobStore;
  readonly deviceAuth?: DeviceAuthenticator;
  readonly masterKey?: Buffer;
  /** Where pino writes (default stdout). */
  readonly logStream?: Writable;
  /** Prints the one-time admin credentials (default: stdout). */
  readonly print?: (line: string) => void;
  /** `print` reaches a terminal (default: stdout is a TTY when `print` is not given). */
  readonly printIsTerminal?: boolean;
  readonly now?: () => Date;
  /** The device session cache's clock, in ms (default `performance.now`; tests step it). */
  readonly sessionClock?: () => number;
  /** Where delta patches are encoded (default: a worker thread per encoding). */
  readonly deltaEncoder?: DeltaEncoder;
  /** Bounds of delta creation (default {@link DEFAULT_DELTA_LIMITS}). */
  readonly deltaLimits?: DeltaLimits;
  /** How webhook deliveries are POSTed (default node:http(s) with the private-address guard). */
  readonly webhookTransport?: WebhookTransport;
  /** Resolves webhook host names when a webhook is created (default `dns.lookup`). */
  readonly webhookResolve?: ResolveHost;
  /** The campaign engine (default: the real one, ticking every `campaigns.tickSeconds`). */
  readonly campaignEngine?: CampaignEngineService;
  /**
   * `mqtt.mode=external`: the bus to use instead of connecting to `mqtt.url` (tests wrap one to
   * watch or tamper with traffic); closed with the app.
   */
  readonly mqttBus?: MqttBus;
  /** How the MQTT broker identifies a device certificate (default: `identifyDeviceCertificate`). */
  readonly mqttIdentify?: IdentifyDeviceCertificate;
  /** The built dashboard served at `/` (default {@link DEFAULT_DASHBOARD_DIR}). */
  readonly dashboardDir?: string;
}

/** Paths whose values pino replaces with `[redacted]`, wherever a request or body carries them. */
export const REDACTED_LOG_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.currentPassword',
  '*.newPassword',
  '*.adminPassword',
  '*.token',
  '*.secret',
  '*.privateKey',
  '*.masterKey',
  '*.apiKey',
  'config.database.url',
  'config.auth.adminPassword',
];

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Builds the Fastify app from a configuration and optional dependencies: opens and migrates the
 * database, creates the default tenant and first admin, prepares the blob store, installs the
 * error handler, access control, audit, rate limits and OpenAPI, then mounts every feature.
 * Does not listen; see `startServer`.
 *
 * @example
 * const app = await buildServer(loadConfig({ overrides: { dataDir: tmp } }));
 * const res = await app.inject({ method: 'GET', url: '/healthz' });
 */
export async function buildServer(
  config: ServerConfig,
  deps: ServerDeps = {},
): Promise<UpdraftApp> {
  const loggerInstance: FastifyBaseLogger = pino(
    { level: config.logLevel, redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' } },
    deps.logStream ?? process.stdout,
  );
  const app = Fastify({
    loggerInstance,
    // One line per request (see UpdraftLogController); request loggers built only when used.
    logController: new UpdraftLogController(['/api/device/', '/healthz', '/readyz', '/metrics']),
    childLoggerFactory: lazyChildLogger,
    bodyLimit: config.limits.bodyBytes,
    requestTimeout: config.limits.requestTimeoutMs,
    // Only the listed proxies' X-Forwarded-* are believed (an empty list believes none).
    trustProxy: config.trustProxy.length > 0 ? [...config.trustProxy] : false,
    // Read x-request-id ourselves (genReqId) so an unsafe value is replaced, not trusted.
    requestIdHeader: false,
    // With tls.enabled the port speaks only TLS. The certificate needs the database (the tenant
    // CA), which opens below: the secure context is set then, before the server listens.
    https: config.tls.enabled ? listenerTlsOptions(config) : null,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  await prepareDataDir(config.dataDir);
  const ownDatabase = deps.database === undefined;
  const database = deps.database ?? (await createDatabase(config.database));
  const blobsOwned = deps.blobs === undefined;
  let mqtt: MqttService | undefined;
  let lastSeen: LastSeenTracker | undefined;
  try {
    await migrateToLatest(database);
    await database.deviceChanges.start();
    const now = deps.now ?? (() => new Date());
    await ensureTenant(database.db, DEFAULT_TENANT_ID, 'default', now().toISOString());
    await bootstrapAdmin(database.db, config, now().toISOString(), {
      print: deps.print ?? ((line) => process.stdout.write(`${line}\n`)),
      terminal: deps.printIsTerminal ?? (deps.print === undefined && process.stdout.isTTY === true),
    });
    const masterKey = deps.masterKey ?? (await loadOrCreateMasterKey(config.blobs.masterKeyFile));
    // One sealing key for tenant CA keys: the listener's certificate and the PKI service share it.
    const caKeys = new CaKeyBox(deriveKey(masterKey, 'pki-ca-key'));
    const serverTls = config.tls.enabled
      ? await loadServerTls(config, database.db, caKeys, now())
      : undefined;
    if (serverTls !== undefined) {
      (app.server as unknown as TlsServer).setSecureContext(
        secureContextOptions(config, serverTls),
      );
    }
    const { stored, objectStore } = deps.blobs
      ? { stored: deps.blobs, objectStore: undefined }
      : createBlobStore(config, { masterKey });
    const plaintextCache =
      config.blobs.plaintextCacheBytes > 0
        ? new PlaintextCachingBlobStore(stored, config.blobs.plaintextCacheBytes)
        : undefined;
    const blobs = plaintextCache ?? stored;
    await blobs.init();
    // An injected store (tests) may pre-sign too: the S3 one passed as `deps.blobs`.
    const downloadLinks = await createDownloadLinks(config, objectStore ?? stored);

    const metrics = new Metrics();
    const sessions = new DeviceSessionCache(database.deviceChanges, {
      maxEntries: config.device.sessionCacheEntries,
      maxAgeMs: config.device.sessionCacheMaxAgeSeconds * 1000,
      ...(deps.sessionClock ? { clock: deps.sessionClock } : {}),
    });
    metrics.setSessionCacheSource(() => sessions);
    if (plaintextCache) metrics.setPlaintextCacheSource(() => plaintextCache);
    const bearer = new BearerDeviceAuthenticator(database.db, sessions);
    // The Mender device API's tokens (features/mender): a key derived from the master key.
    const menderJwt = new MenderJwt(
      deriveKey(masterKey, 'mender-jwt'),
      config.device.menderTokenTtlSeconds,
    );
    const deviceAuth =
      deps.deviceAuth ??
      new CertificateDeviceAuthenticator({
        db: database.db,
        fallback: new FirstDeviceAuthenticator([
          bearer,
          new MenderJwtAuthenticator(database.db, menderJwt, now),
        ]),
        now,
        rotationGraceSeconds: config.pki.rotationGraceSeconds,
        onRefusal: (reason) => metrics.pkiRefusals.inc({ channel: 'device-api', reason }),
      });
    mqtt = await createMqttService(config, {
      db: database.db,
      // MQTT passwords are device tokens (certificates are checked by the broker itself).
      deviceAuth: deps.deviceAuth ?? bearer,
      changes: database.deviceChanges,
      metrics,
      now,
      logger: loggerInstance,
      deriveKey: (purpose) => deriveKey(masterKey, purpose),
      ...(deps.mqttIdentify ? { identify: deps.mqttIdentify } : {}),
      ...(deps.mqttBus ? { bus: deps.mqttBus } : {}),
    });
    lastSeen = new LastSeenTracker(database.db, now);
    lastSeen.start();
    const services: UpdraftServices = {
      config,
      db: database.db,
      dbSupport: database.support,
      blobs,
      ...(objectStore ? { objectStore } : {}),
      metrics,
      deviceAuth,
      deviceChanges: database.deviceChanges,
      deviceLoad: new DeviceLoadShedder({
        maxPending: config.device.maxPendingRequests,
        maxRetryAfterSeconds: config.device.pollIntervalSeconds,
      }),
      limiter: createRateLimiter(config.rateLimit, database, () => now().getTime(), loggerInstance),
      deriveKey: (purpose) => deriveKey(masterKey, purpose),
      now,
      push: mqtt.push,
      ...(mqtt.endpoints ? { pushEndpoints: mqtt.endpoints } : {}),
      peerCertificates: peerCertificateReader(config),
      ...(serverTls === undefined ? {} : { serverTls }),
      lastSeen,
      drain: new Drain(),
      ...(downloadLinks ? { downloadLinks } : {}),
    };
    app.decorate('updraft', services);
    if (services.limiter.shared) metrics.setRateLimitSyncSource(() => services.limiter.syncStats);
    metrics.setDeviceLoadSource(() => services.deviceLoad);
    const webhookSecrets = new WebhookSecretBox(deriveKey(masterKey, 'webhook-secret'));
    const webhookOutbox = new WebhookOutbox(now);
    const wiring: FeatureWiring = {
      deltas: new DeltaService({
        db: database.db,
        support: database.support,
        blobs,
        metrics,
        urls: new SignedUrl(deriveKey(masterKey, 'delta-url'), config.device.downloadUrlTtlSeconds),
        now,
        encoder: deps.deltaEncoder ?? workerEncoder,
        limits: deps.deltaLimits ?? DEFAULT_DELTA_LIMITS,
        logger: loggerInstance,
      }),
      webhooks: {
        outbox: webhookOutbox,
        secrets: webhookSecrets,
        resolve: deps.webhookResolve ?? systemResolve,
        worker: new WebhookWorker({
          db: database.db,
          support: database.support,
          transport: deps.webhookTransport ?? nodeWebhookTransport,
          secrets: webhookSecrets,
          now,
          logger: loggerInstance,
          options: config.webhooks,
        }),
      },
      campaigns: {
        engine:
          deps.campaignEngine ??
          new CampaignEngine({
            db: database.db,
            support: database.support,
            now,
            logger: loggerInstance,
            events: webhookOutbox,
            filters: new DeviceFilterService(database.db, now),
            tickSeconds: config.campaigns.tickSeconds,
            fanOutBatch: config.campaigns.fanOutBatch,
            push: mqtt.push,
          }),
      },
      mqtt,
      mender: { jwt: menderJwt },
      pki: {
        service: new PkiService({
          db: database.db,
          support: database.support,
          box: caKeys,
          config: config.pki,
          metrics,
          now,
        }),
      },
    };
    app.decorate('wiring', wiring);
    // The default tenant's CA exists from the first start (devices pin it); others' on first use.
    await wiring.pki.service.ca(DEFAULT_TENANT_ID);
    app.addHook('onClose', async () => {
      // A step under way finishes (or rolls back) before the database goes.
      await wiring.campaigns.engine.close();
      // Notices under way are published (or fail) before the broker and the database go.
      await wiring.mqtt.close();
      // Sends in flight are aborted and their rows given back before the database goes.
      await wiring.webhooks.worker.close();
      // Before the database goes: a running encoding stops and its job goes back to `queued`.
      await wiring.deltas.close();
      // Devices seen since the last flush are written before the database goes.
      await lastSeen?.close();
      // Hits not yet shared with the other replicas too.
      await services.limiter.close();
      if (blobsOwned) await blobs.close();
      if (ownDatabase) await database.close();
    });
  } catch (error) {
    await mqtt?.close().catch(() => undefined);
    await lastSeen?.close().catch(() => undefined);
    if (ownDatabase) await database.close();
    throw error;
  }

  // The dashboard is mounted after the API (below); until then unknown URLs are plain 404s.
  let dashboard: Dashboard | undefined;
  installProblemHandlers(app, (request, reply) => dashboard?.fallback(request, reply) ?? false);
  installValidators(app);
  // Callback-style (not async) hooks: they run on every request, and a promise per hook shows.
  const { drain } = app.updraft;
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    // Draining (SIGTERM): the client's next request opens a new connection, via the balancer.
    if (drain.draining) reply.header('connection', 'close');
    done(null, payload);
  });
  // Labelled children cached by label values (bounded: methods × route patterns × statuses), so
  // a request skips prom-client's per-call label hashing.
  const { metrics } = app.updraft;
  const counters = new Map<string, { inc(): void }>();
  const durations = new Map<string, { observe(value: number): void }>();
  app.addHook('onResponse', (request, reply, done) => {
    const method = request.method;
    const route = request.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    const key = `${method} ${route}`;
    let counter = counters.get(`${key} ${status}`);
    if (counter === undefined) {
      counter = metrics.httpRequests.labels({ method, route, status: String(status) });
      counters.set(`${key} ${status}`, counter);
    }
    counter.inc();
    let duration = durations.get(key);
    if (duration === undefined) {
      duration = metrics.httpDuration.labels({ method, route });
      durations.set(key, duration);
    }
    duration.observe(reply.elapsedTime / 1000);
    done();
  });

  // Parses lazily: only the access check reads the session cookie (hook: false), so requests
  // without one (devices, bearer callers) pay nothing; the plugin also writes Set-Cookie.
  await app.register(cookie, { hook: false });
  // Before the rate limits and the access check: a device refused for load costs no work.
  app.updraft.deviceLoad.install(app);
  // Rate limits run first (global onRequest hooks precede the routes' access check).
  installRateLimits(app, app.updraft.limiter);
  installAccessControl(app);
  installAuditHook(app);

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Updraft update service', version: '1' },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'API, session or device token' },
          session: {
            type: 'apiKey',
            in: 'cookie',
            name: SESSION_COOKIE,
            description:
              "The dashboard's login session (POST /api/v1/auth/login with x-updraft-client: web); state-changing requests must also send x-updraft-client: web (docs/security.md)",
          },
        },
      },
      security: [{ bearer: [] }, { session: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/api/docs' });

  for (const feature of featureMounts(app.wiring)) await feature.register(app);
  dashboard = await mountDashboard(app, deps.dashboardDir ?? DEFAULT_DASHBOARD_DIR);
  app.decorate('dashboard', dashboard);
  await app.ready();
  app.wiring.webhooks.worker.start();
  app.wiring.campaigns.engine.start();
  app.wiring.deltas.start();
  app.updraft.limiter.start();
  return app as unknown as UpdraftApp;
}
