import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { DEVICE_TOPICS, deviceTopicRoot } from '@updraft/core';
import { Aedes, type AuthenticateError, type Client, type PublishPacket } from 'aedes';
import type { FastifyBaseLogger } from 'fastify';
import type { Kysely } from 'kysely';
import type { DeviceAuthenticator } from '../auth/device-authenticator.js';
import type { Database } from '../db/database.js';
import type { DeviceChange, DeviceChangeFeed } from '../ports/device-change-feed.js';
import type {
  CertificateRefusal,
  IdentifyDeviceCertificate,
} from './device-certificate-identity.js';
import type { MqttBus, MqttMessage, MqttPublishOptions } from './mqtt-bus.js';

/** Why the broker refused a device (`updraft_pki_refusals_total{channel="mqtt",reason}`). */
export type MqttRefusal =
  | CertificateRefusal
  | 'no-credentials'
  | 'token-invalid'
  | 'bearer-tokens-forbidden'
  | 'subscribe-denied'
  | 'publish-denied'
  | 'disconnected';

export interface RefusalCounter {
  inc(labels: { channel: 'mqtt'; reason: MqttRefusal }): void;
}

export interface EmbeddedMqttBrokerDeps {
  readonly db: Kysely<Database>;
  readonly identify: IdentifyDeviceCertificate;
  readonly deviceAuth: DeviceAuthenticator;
  readonly changes: Pick<DeviceChangeFeed, 'subscribe'>;
  readonly now: () => Date;
  readonly logger: FastifyBaseLogger;
  readonly refusals: RefusalCounter;
}

/** An authenticated device connection. */
interface Session {
  readonly tenantId: string;
  readonly deviceId: string;
  readonly topicRoot: string;
  /** What it authenticated with, checked again whenever the device changes. */
  readonly credential:
    | { readonly kind: 'certificate'; readonly chain: readonly string[] }
    | { readonly kind: 'token'; readonly token: string };
}

type Verdict = { ok: true; session: Session } | { ok: false; reason: MqttRefusal };

const NOT_AUTHORIZED = 5;
// Re-checks after device changes run this many at a time (a bulk change re-checks everyone).
const RECHECK_CONCURRENCY = 32;

/**
 * The embedded MQTT broker (aedes; docs/mqtt.md). Devices connect over TLS 1.3 with their
 * operational certificate (or, where the tenant allows bearer tokens, the device token as the
 * password) and may only subscribe to their own `…/notify` and `…/res` and publish to their own
 * `…/req`. A device's open connection is checked again whenever the device changes (certificate
 * revoked, token revoked, decommissioned, admission changed) and closed at once when it no longer
 * passes. The service publishes and subscribes in-process. Aedes speaks MQTT 3.1.1 (no MQTT 5
 * yet): message expiry and correlation data of {@link MqttPublishOptions} are not carried.
 */
export class EmbeddedMqttBroker implements MqttBus {
  readonly #sessions = new WeakMap<Client, Session>();
  readonly #byDevice = new Map<string, Set<Client>>();
  readonly #unsubscribe: () => void;
  readonly #rechecks = new Map<string, Promise<void>>();
  #server: Server | undefined;

  private constructor(
    private readonly aedes: Aedes,
    private readonly deps: EmbeddedMqttBrokerDeps,
  ) {
    aedes.on('clientDisconnect', (client) => this.#forget(client));
    aedes.on('clientError', (client) => this.#forget(client));
    this.#unsubscribe = deps.changes.subscribe((change) => this.#changed(change));
  }

  static async create(deps: EmbeddedMqttBrokerDeps): Promise<EmbeddedMqttBroker> {
    let broker: EmbeddedMqttBroker | undefined;
    const aedes = await Aedes.createBroker({
      // Bounds: a device sends little; the id is free-form but short.
      maxClientsIdLength: 128,
      queueLimit: 64,
      connectTimeout: 10_000,
      authenticate: (client, _username, password, done) => {
        void broker!.#authenticate(client, password).then(
          (verdict) => {
            if (verdict.ok) return done(null, true);
            deps.refusals.inc({ channel: 'mqtt', reason: verdict.reason });
            const error = new Error(`refused: ${verdict.reason}`) as AuthenticateError;
            error.returnCode = NOT_AUTHORIZED;
            done(error, false);
          },
          (error: unknown) => {
            deps.logger.error({ err: error }, 'mqtt: authentication failed');
            const refusal = new Error('authentication failed') as AuthenticateError;
            refusal.returnCode = 3; // server unavailable
            done(refusal, false);
          },
        );
      },
      authorizeSubscribe: (client, subscription, done) => {
        const session = broker!.#sessions.get(client);
        const allowed =
          session !== undefined &&
          (subscription.topic === `${session.topicRoot}/${DEVICE_TOPICS.notify}` ||
            subscription.topic === `${session.topicRoot}/${DEVICE_TOPICS.response}`);
        if (allowed) return done(null, subscription);
        deps.refusals.inc({ channel: 'mqtt', reason: 'subscribe-denied' });
        // Granted as 0x80 (failure) in the SUBACK; the connection stays (an error would close it).
        done(null, null);
      },
      authorizePublish: (client, packet, done) => {
        if (client === null) return done(null); // the service itself
        const session = broker!.#sessions.get(client);
        if (
          session !== undefined &&
          packet.retain !== true &&
          packet.topic === `${session.topicRoot}/${DEVICE_TOPICS.request}`
        )
          return done(null);
        deps.refusals.inc({ channel: 'mqtt', reason: 'publish-denied' });
        done(new Error('publish not allowed'));
      },
    });
    broker = new EmbeddedMqttBroker(aedes, deps);
    return broker;
  }

  /**
   * Listens with TLS (1.3 minimum) on `host:port` (0 = any free port); resolves with the port.
   * Client certificates are requested, not required: the broker checks them itself against the
   * database, so a token-authenticated device can connect without one.
   */
  async listen(options: {
    readonly host: string;
    readonly port: number;
    readonly certificatePem: string;
    readonly privateKeyPem: string;
  }): Promise<number> {
    const server = createServer(
      {
        cert: options.certificatePem,
        key: options.privateKeyPem,
        minVersion: 'TLSv1.3',
        requestCert: true,
        rejectUnauthorized: false,
      },
      (socket) => {
        socket.on('error', () => undefined);
        this.aedes.handle(socket);
      },
    );
    server.on('tlsClientError', () => undefined);
    server.listen(options.port, options.host);
    await once(server, 'listening');
    this.#server = server;
    return (server.address() as AddressInfo).port;
  }

  /** Connected, authenticated device connections. */
  get connectedDevices(): number {
    let n = 0;
    for (const clients of this.#byDevice.values()) n += clients.size;
    return n;
  }

  publish(topic: string, payload: Buffer | string, options?: MqttPublishOptions): Promise<void> {
    const packet = {
      cmd: 'publish',
      topic,
      payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
      qos: options?.qos ?? 0,
      retain: false,
      dup: false,
    } as PublishPacket;
    return new Promise((resolve, reject) => {
      this.aedes.publish(packet, (error) => (error ? reject(error) : resolve()));
    });
  }

  subscribe(filter: string, handler: (message: MqttMessage) => void): Promise<() => Promise<void>> {
    const deliver = (packet: PublishPacket, done: () => void) => {
      try {
        handler({ topic: packet.topic, payload: Buffer.from(packet.payload) });
      } finally {
        done();
      }
    };
    return new Promise((resolve) => {
      this.aedes.subscribe(filter, deliver, () =>
        resolve(() => new Promise((r) => this.aedes.unsubscribe(filter, deliver, () => r()))),
      );
    });
  }

  async close(): Promise<void> {
    this.#unsubscribe();
    const server = this.#server;
    this.#server = undefined;
    if (server !== undefined) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
      await closed;
    } else {
      await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
    }
  }

  async #authenticate(client: Client, password: Buffer | undefined): Promise<Verdict> {
    const chain = peerChain(client.conn as TLSSocket);
    let verdict: Verdict;
    if (chain.length > 0) {
      // A presented but refused certificate never falls back to the token (docs/pki.md).
      verdict = await this.#verify({ kind: 'certificate', chain });
    } else if (password !== undefined && password.length > 0 && password.length <= 512) {
      verdict = await this.#verify({ kind: 'token', token: password.toString('utf8') });
    } else {
      verdict = { ok: false, reason: 'no-credentials' };
    }
    if (!verdict.ok) return verdict;
    if (client.closed) return { ok: false, reason: 'disconnected' };
    this.#sessions.set(client, verdict.session);
    const key = `${verdict.session.tenantId}/${verdict.session.deviceId}`;
    const clients = this.#byDevice.get(key) ?? new Set<Client>();
    this.#byDevice.set(key, clients);
    clients.add(client);
    return verdict;
  }

  async #verify(credential: Session['credential']): Promise<Verdict> {
    if (credential.kind === 'certificate') {
      const identity = await this.deps.identify(credential.chain, this.deps.now());
      if (!identity.ok) return identity;
      const { tenantId, deviceId, deviceName } = identity.device;
      return {
        ok: true,
        session: {
          tenantId,
          deviceId,
          topicRoot: deviceTopicRoot(tenantId, deviceName),
          credential,
        },
      };
    }
    const principal = await this.deps.deviceAuth.authenticate({
      headers: { authorization: `Bearer ${credential.token}` },
    });
    if (principal === null) return { ok: false, reason: 'token-invalid' };
    const row = await this.deps.db
      .selectFrom('devices as d')
      .leftJoin('pki_settings as s', 's.tenant_id', 'd.tenant_id')
      .select(['d.name', 'd.admission', 's.bearer_tokens_allowed as allowed'])
      .where('d.tenant_id', '=', principal.tenantId)
      .where('d.id', '=', principal.deviceId)
      .executeTakeFirst();
    if (row === undefined) return { ok: false, reason: 'token-invalid' };
    if (row.allowed !== null && Number(row.allowed) === 0)
      return { ok: false, reason: 'bearer-tokens-forbidden' };
    if (row.admission !== 'accepted') return { ok: false, reason: 'device-not-accepted' };
    return {
      ok: true,
      session: {
        tenantId: principal.tenantId,
        deviceId: principal.deviceId,
        topicRoot: deviceTopicRoot(principal.tenantId, row.name),
        credential,
      },
    };
  }

  #forget(client: Client): void {
    const session = this.#sessions.get(client);
    if (session === undefined) return;
    this.#sessions.delete(client);
    const key = `${session.tenantId}/${session.deviceId}`;
    const clients = this.#byDevice.get(key);
    clients?.delete(client);
    if (clients?.size === 0) this.#byDevice.delete(key);
  }

  #changed(change: DeviceChange): void {
    const keys =
      change === null ? [...this.#byDevice.keys()] : [`${change.tenantId}/${change.deviceId}`];
    const due = keys.filter((key) => this.#byDevice.has(key) && !this.#rechecks.has(key));
    if (due.length === 0) return;
    // Deferred a turn: other listeners of the same change (the session cache) drop what they
    // hold first, and repeated changes of one device collapse into one check.
    const run = (async () => {
      await new Promise((resolve) => setImmediate(resolve));
      for (let i = 0; i < due.length; i += RECHECK_CONCURRENCY)
        await Promise.all(due.slice(i, i + RECHECK_CONCURRENCY).map((key) => this.#recheck(key)));
    })();
    for (const key of due) this.#rechecks.set(key, run);
    void run
      .catch((error: unknown) => this.deps.logger.error({ err: error }, 'mqtt: re-check failed'))
      .finally(() => {
        for (const key of due) if (this.#rechecks.get(key) === run) this.#rechecks.delete(key);
      });
  }

  /** Checks each open connection of a device again; closes those that no longer pass. */
  async #recheck(key: string): Promise<void> {
    for (const client of [...(this.#byDevice.get(key) ?? [])]) {
      const session = this.#sessions.get(client);
      if (session === undefined) continue;
      const verdict = await this.#verify(session.credential);
      if (verdict.ok && verdict.session.deviceId === session.deviceId) continue;
      this.deps.refusals.inc({
        channel: 'mqtt',
        reason: verdict.ok ? 'device-mismatch' : verdict.reason,
      });
      this.deps.logger.info(
        {
          tenantId: session.tenantId,
          deviceId: session.deviceId,
          reason: verdict.ok ? 'device-mismatch' : verdict.reason,
        },
        'mqtt: device connection closed (credential no longer valid)',
      );
      this.#forget(client);
      client.close();
    }
  }
}

/** The peer's certificate chain as PEM, leaf first (empty when it sent none). */
function peerChain(socket: TLSSocket): string[] {
  if (typeof socket.getPeerCertificate !== 'function') return [];
  const chain: string[] = [];
  let cert = socket.getPeerCertificate(true);
  const seen = new Set<string>();
  while (cert?.raw !== undefined && chain.length < 8) {
    if (seen.has(cert.fingerprint256)) break;
    seen.add(cert.fingerprint256);
    chain.push(toPem(cert.raw));
    cert = cert.issuerCertificate;
  }
  return chain;
}

function toPem(der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END CERTIFICATE-----\n`;
}
