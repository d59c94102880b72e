import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import type { Kysely } from 'kysely';
import { identifyDeviceCertificate } from '../auth/certificate-identity.js';
import type { DeviceAuthenticator } from '../auth/device-authenticator.js';
import type { ServerConfig } from '../config/config.js';
import type { Database } from '../db/database.js';
import { CaKeyBox, loadOrCreateTenantCa } from '../features/pki/tenant-ca.js';
import type { Metrics } from '../metrics/metrics.js';
import { issueServerCertificate } from '../pki/pki.js';
import type { DeviceChangeFeed } from '../ports/device-change-feed.js';
import { DEFAULT_TENANT_ID } from '../tenants/tenant.repository.js';
import type { IdentifyDeviceCertificate } from './device-certificate-identity.js';
import { EmbeddedMqttBroker } from './embedded-mqtt-broker.js';
import { ExternalMqttBus } from './external-mqtt-bus.js';
import type { MqttBus } from './mqtt-bus.js';
import { PushEndpoints } from './push-endpoints.js';
import { NO_PUSH, type PushNotices, PushNotifier } from './push-notifier.js';

/** What `mqtt.*` turned into: the bus, push notices and the check-in's `push` source. */
export interface MqttService {
  readonly bus: MqttBus | undefined;
  /** The embedded broker when `mqtt.mode=embedded` (listens in {@link start}). */
  readonly broker: EmbeddedMqttBroker | undefined;
  readonly push: PushNotices;
  readonly endpoints: PushEndpoints | undefined;
  /** Embedded: listens on `mqtt.host:mqtt.port`; resolves with the port (else `undefined`). */
  start(): Promise<number | undefined>;
  close(): Promise<void>;
}

export interface MqttServiceDeps {
  readonly db: Kysely<Database>;
  readonly deviceAuth: DeviceAuthenticator;
  readonly changes: DeviceChangeFeed;
  readonly metrics: Metrics;
  readonly now: () => Date;
  readonly logger: FastifyBaseLogger;
  readonly deriveKey: (purpose: string) => Buffer;
  /** Default: `identifyDeviceCertificate` (the device API's check). */
  readonly identify?: IdentifyDeviceCertificate;
  /** External mode: this bus instead of a connection to `mqtt.url` (tests wrap one). */
  readonly bus?: MqttBus;
}

const SERVER_CERTIFICATE_DAYS = 365;

/** Builds the MQTT side from the configuration (docs/mqtt.md). Nothing listens before `start`. */
export async function createMqttService(
  config: ServerConfig,
  deps: MqttServiceDeps,
): Promise<MqttService> {
  const { mqtt } = config;
  if (mqtt.mode === 'off') {
    return {
      bus: undefined,
      broker: undefined,
      push: NO_PUSH,
      endpoints: undefined,
      start: async () => undefined,
      close: async () => {},
    };
  }
  const identify =
    deps.identify ??
    ((chain, now) =>
      identifyDeviceCertificate(deps.db, chain, now, {
        rotationGraceSeconds: config.pki.rotationGraceSeconds,
      }));
  const broker =
    mqtt.mode === 'embedded'
      ? await EmbeddedMqttBroker.create({
          db: deps.db,
          identify,
          deviceAuth: deps.deviceAuth,
          changes: deps.changes,
          now: deps.now,
          logger: deps.logger,
          refusals: deps.metrics.pkiRefusals,
        })
      : undefined;
  if (broker !== undefined) deps.metrics.setMqttConnectionsSource(() => broker.connectedDevices);
  const bus: MqttBus =
    broker ??
    deps.bus ??
    (await ExternalMqttBus.connect({
      url: mqtt.url,
      certFile: mqtt.certFile,
      keyFile: mqtt.keyFile,
      caFile: mqtt.caFile,
      logger: deps.logger,
    }));
  const push = new PushNotifier({
    db: deps.db,
    bus,
    now: deps.now,
    logger: deps.logger,
    counter: deps.metrics.mqttNotices,
  });
  // Embedded: devices are told of the broker once it listens (`start`), with its real port.
  // Built once: every cached push endpoint then holds this one string, not a copy per device.
  let deviceUrl = broker === undefined ? publicUrl(config, mqtt.port) : undefined;
  const endpoints = new PushEndpoints(
    deps.db,
    () => deviceUrl,
    deps.changes,
    // As many devices as the session cache: both are sized to the fleet by one setting.
    Math.max(1, config.device.sessionCacheEntries),
  );
  return {
    bus,
    broker,
    push,
    endpoints,
    async start() {
      if (broker === undefined) return undefined;
      const { certificatePem, privateKeyPem } = await serverCertificate(config, deps);
      const port = await broker.listen({
        host: mqtt.host,
        port: mqtt.port,
        certificatePem,
        privateKeyPem,
      });
      deviceUrl = publicUrl(config, port);
      deps.logger.info({ port }, 'embedded MQTT broker listening (TLS)');
      return port;
    },
    async close() {
      await push.settled();
      await bus.close();
    },
  };
}

/** `mqtt.publicUrl`, else the embedded broker at the first `tls.hosts` name, else `mqtt.url`. */
function publicUrl(config: ServerConfig, port: number): string {
  if (config.mqtt.publicUrl !== '') return config.mqtt.publicUrl;
  if (config.mqtt.mode === 'external') return config.mqtt.url;
  const host = config.tls.hosts[0] ?? 'localhost';
  return `mqtts://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * The broker's TLS certificate: the service's own (`<dataDir>/pki/server.pem`/`server.key`, as
 * the TLS part writes them) when present and valid, else a new one from the default tenant's CA
 * for `tls.hosts` (kept in memory). Writes the chain devices pin to `<dataDir>/pki/ca.pem` when
 * absent.
 */
async function serverCertificate(
  config: ServerConfig,
  deps: MqttServiceDeps,
): Promise<{ certificatePem: string; privateKeyPem: string }> {
  const dir = join(config.dataDir, 'pki');
  const now = deps.now();
  const [cert, key] = await Promise.all(
    ['server.pem', 'server.key'].map((f) => readFile(join(dir, f), 'utf8').catch(() => undefined)),
  );
  if (cert !== undefined && key !== undefined) {
    const validTo = Date.parse(new X509Certificate(cert).validTo);
    if (validTo > now.getTime()) return { certificatePem: cert, privateKeyPem: key };
  }
  const ca = await loadOrCreateTenantCa(
    deps.db,
    new CaKeyBox(deps.deriveKey('pki-ca-key')),
    DEFAULT_TENANT_ID,
    'default',
    now,
  );
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'ca.pem'), ca.chainPem, { flag: 'wx', mode: 0o644 }).catch(
    (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    },
  );
  const issued = await issueServerCertificate(ca, {
    hosts: config.tls.hosts.length > 0 ? config.tls.hosts : ['localhost', '127.0.0.1'],
    validityDays: SERVER_CERTIFICATE_DAYS,
    now,
  });
  return {
    certificatePem: `${issued.certificatePem}${ca.chainPem}`,
    privateKeyPem: issued.privateKeyPem,
  };
}
