import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Counts of the device session cache (see auth/device-session-cache.ts). */
export interface SessionCacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly size: number;
  readonly live: boolean;
}

/** Reads the current number of actions per state (set by the actions feature). */
export type ActionsByStateSource = () => Promise<Readonly<Record<string, number>>>;

/**
 * The server's Prometheus metrics, one registry per app (tests run many apps in one process).
 * Features increment the counters; `/metrics` renders {@link Metrics.registry}.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route'>;
  /** Device check-ins by outcome (`action`, `idle`, `not_modified`). */
  readonly checkIns: Counter<'outcome'>;
  /** Payload downloads started (full or ranged). */
  readonly downloads: Counter<'kind'>;
  /** Payload bytes sent to devices. */
  readonly downloadBytes: Counter;
  /** Open and finished actions by state, read from the database at scrape time. */
  readonly actionsByState: Gauge<'state'>;
  /** Certificates issued over EST, by method (`token`, `birth`, `reenroll`). */
  readonly pkiEnrollments: Counter<'method'>;
  /**
   * Refused device credentials, by channel (`est`, `device-api`, `mqtt`) and reason (a bounded
   * set: the refusal's reason or error code).
   */
  readonly pkiRefusals: Counter<'channel' | 'reason'>;
  /** MQTT push notices published or failed (docs/mqtt.md). */
  readonly mqttNotices: Counter<'result'>;
  #mqttConnectionsSource: (() => number) | undefined;
  private actionsSource: ActionsByStateSource | undefined;
  private certificatesExpiringSource: (() => Promise<number>) | undefined;
  private sessionCacheSource: (() => SessionCacheStats) | undefined;
  private plaintextCacheSource:
    | (() => { readonly bytes: number; readonly hits: number; readonly misses: number })
    | undefined;
  #rateLimitSyncSource: (() => { readonly ok: number; readonly failed: number }) | undefined;
  #deviceLoadSource: (() => { readonly pending: number; readonly shed: number }) | undefined;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.httpRequests = new Counter({
      name: 'updraft_http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status.',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'updraft_http_request_duration_seconds',
      help: 'HTTP request duration in seconds, by method and route pattern.',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });
    this.checkIns = new Counter({
      name: 'updraft_device_checkins_total',
      help: 'Device check-ins, by outcome.',
      labelNames: ['outcome'],
      registers,
    });
    this.downloads = new Counter({
      name: 'updraft_downloads_total',
      help: 'Payload downloads started, by kind (full, range, head).',
      labelNames: ['kind'],
      registers,
    });
    this.downloadBytes = new Counter({
      name: 'updraft_download_bytes_total',
      help: 'Payload bytes sent to devices.',
      registers,
    });
    this.pkiEnrollments = new Counter({
      name: 'updraft_pki_enrollments_total',
      help: 'Operational certificates issued over EST, by method (token, birth, reenroll).',
      labelNames: ['method'],
      registers,
    });
    this.pkiRefusals = new Counter({
      name: 'updraft_pki_refusals_total',
      help: 'Refused device credentials and enrollments, by channel and reason.',
      labelNames: ['channel', 'reason'],
      registers,
    });
    const self = this;
    new Gauge({
      name: 'updraft_pki_certificates_expiring',
      help: 'Active device certificates expiring within 30 days (all tenants), read at scrape time.',
      registers,
      async collect() {
        if (self.certificatesExpiringSource) this.set(await self.certificatesExpiringSource());
      },
    });
    this.actionsByState = new Gauge({
      name: 'updraft_actions',
      help: 'Actions by state.',
      labelNames: ['state'],
      registers,
      async collect() {
        if (!self.actionsSource) return;
        this.reset();
        for (const [state, count] of Object.entries(await self.actionsSource()))
          this.set({ state }, count);
      },
    });
    this.mqttNotices = new Counter({
      name: 'updraft_mqtt_notices_total',
      help: 'MQTT push notices published or failed (failures never fail the operation).',
      labelNames: ['result'],
      registers,
    });
    new Gauge({
      name: 'updraft_mqtt_device_connections',
      help: 'Authenticated device connections on the embedded MQTT broker.',
      registers,
      collect() {
        const n = self.#mqttConnectionsSource?.();
        if (n !== undefined) this.set(n);
      },
    });
    // Read at scrape time from plain integers (the idle check-in path stays free of prom-client).
    new Counter({
      name: 'updraft_device_session_cache_lookups_total',
      help: 'Device credential lookups answered from the session cache (hit) or the database (miss).',
      labelNames: ['result'],
      registers,
      collect() {
        const stats = self.sessionCacheSource?.();
        if (!stats) return;
        this.reset();
        this.inc({ result: 'hit' }, stats.hits);
        this.inc({ result: 'miss' }, stats.misses);
      },
    });
    new Gauge({
      name: 'updraft_device_session_cache_entries',
      help: 'Device sessions cached in this process.',
      registers,
      collect() {
        const stats = self.sessionCacheSource?.();
        if (stats) this.set(stats.size);
      },
    });
    new Gauge({
      name: 'updraft_device_change_feed_live',
      help: '1 while this process hears every device change (PostgreSQL: LISTEN connection up).',
      registers,
      collect() {
        const stats = self.sessionCacheSource?.();
        if (stats) this.set(stats.live ? 1 : 0);
      },
    });
    new Gauge({
      name: 'updraft_blob_plaintext_cache_bytes',
      help: 'Bytes of decrypted payloads held in memory for repeated downloads.',
      registers,
      collect() {
        const stats = self.plaintextCacheSource?.();
        if (stats) this.set(stats.bytes);
      },
    });
    new Counter({
      name: 'updraft_blob_plaintext_cache_reads_total',
      help: 'Payload reads answered from decrypted memory (hit) or by decrypting the store (miss).',
      labelNames: ['result'],
      registers,
      collect() {
        const stats = self.plaintextCacheSource?.();
        if (!stats) return;
        this.reset();
        this.inc({ result: 'hit' }, stats.hits);
        this.inc({ result: 'miss' }, stats.misses);
      },
    });
    new Counter({
      name: 'updraft_rate_limit_syncs_total',
      help: "Passes adding this replica's rate-limit hits to the shared counts, by result (ok, failed: limits then apply per replica).",
      labelNames: ['result'],
      registers,
      collect() {
        const stats = self.#rateLimitSyncSource?.();
        if (!stats) return;
        this.reset();
        this.inc({ result: 'ok' }, stats.ok);
        this.inc({ result: 'failed' }, stats.failed);
      },
    });
    new Gauge({
      name: 'updraft_device_requests_pending',
      help: 'Device requests being worked on now (bounded by device.maxPendingRequests).',
      registers,
      collect() {
        const load = self.#deviceLoadSource?.();
        if (load) this.set(load.pending);
      },
    });
    new Counter({
      name: 'updraft_device_requests_shed_total',
      help: 'Device requests refused with 503 DEVICE_SERVICE_BUSY because device.maxPendingRequests were being worked on.',
      registers,
      collect() {
        const load = self.#deviceLoadSource?.();
        if (!load) return;
        this.reset();
        this.inc(load.shed);
      },
    });
    if (options.defaultMetrics !== false)
      collectDefaultMetrics({ register: this.registry, prefix: 'updraft_' });
  }

  /** Where the MQTT connection gauge (authenticated device connections) reads from at scrape time. */
  setMqttConnectionsSource(source: () => number): void {
    this.#mqttConnectionsSource = source;
  }

  /** Lets the device session cache report its counts at scrape time. */
  setSessionCacheSource(source: () => SessionCacheStats): void {
    this.sessionCacheSource = source;
  }

  /** Lets the device load shedder report its pending and refused requests at scrape time. */
  setDeviceLoadSource(source: () => { readonly pending: number; readonly shed: number }): void {
    this.#deviceLoadSource = source;
  }

  /** Lets the rate limiter's synchroniser report its passes at scrape time (shared counts only). */
  setRateLimitSyncSource(source: () => { readonly ok: number; readonly failed: number }): void {
    this.#rateLimitSyncSource = source;
  }

  /** Lets the plaintext cache of the blob store report its counts at scrape time. */
  setPlaintextCacheSource(
    source: () => { readonly bytes: number; readonly hits: number; readonly misses: number },
  ): void {
    this.plaintextCacheSource = source;
  }

  /** Lets the PKI feature report how many active certificates expire within 30 days. */
  setCertificatesExpiringSource(source: () => Promise<number>): void {
    this.certificatesExpiringSource = source;
  }

  /** Lets the actions feature report counts per state at scrape time. */
  setActionsByStateSource(source: ActionsByStateSource): void {
    this.actionsSource = source;
  }
}
