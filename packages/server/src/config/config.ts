import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import type { InputProblem } from '@updraft/core';
import { type Static, Type } from 'typebox';
import { Value } from 'typebox/value';
import { ServerError } from '../errors.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const DATABASE_KINDS = ['sqlite', 'postgres'] as const;
const TLS_VERSIONS = ['TLSv1.3', 'TLSv1.2'] as const;
const MQTT_MODES = ['embedded', 'external', 'off'] as const;
const BLOB_STORES = ['fs', 's3'] as const;
const S3_SSE_MODES = ['AES256', 'aws:kms', 'none'] as const;
const RATE_LIMIT_STORES = ['auto', 'memory', 'database'] as const;

/** The one schema every server configuration is checked against (all problems reported at once). */
export const ServerConfigSchema = Type.Object(
  {
    dataDir: Type.String({ minLength: 1 }),
    host: Type.String({ minLength: 1 }),
    port: Type.Integer({ minimum: 0, maximum: 65535 }),
    logLevel: Type.Enum(LOG_LEVELS),
    trustProxy: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 64 }),
    shutdownTimeoutMs: Type.Integer({ minimum: 0, maximum: 600_000 }),
    shutdownDrainMs: Type.Integer({ minimum: 0, maximum: 600_000 }),
    database: Type.Object(
      {
        kind: Type.Enum(DATABASE_KINDS),
        sqliteFile: Type.String({ minLength: 1 }),
        url: Type.String(),
        schema: Type.String({ pattern: '^[a-z_][a-z0-9_]{0,62}$' }),
        poolMax: Type.Integer({ minimum: 1, maximum: 1000 }),
      },
      { additionalProperties: false },
    ),
    blobs: Type.Object(
      {
        store: Type.Enum(BLOB_STORES),
        dir: Type.String({ minLength: 1 }),
        masterKeyFile: Type.String({ minLength: 1 }),
        segmentSize: Type.Integer({ minimum: 4096, maximum: 16_777_216 }),
        plaintextCacheBytes: Type.Integer({ minimum: 0, maximum: 1_099_511_627_776 }),
        maxConcurrentDecryptions: Type.Integer({ minimum: 1, maximum: 1024 }),
      },
      { additionalProperties: false },
    ),
    s3: Type.Object(
      {
        endpoint: Type.String({ maxLength: 2048 }),
        region: Type.String({ minLength: 1, maxLength: 64 }),
        bucket: Type.String({ maxLength: 63 }),
        prefix: Type.String({ maxLength: 512, pattern: '^([A-Za-z0-9._/-]*)$' }),
        accessKeyId: Type.String({ maxLength: 256 }),
        secretAccessKey: Type.String({ maxLength: 1024 }),
        forcePathStyle: Type.Boolean(),
        sse: Type.Enum(S3_SSE_MODES),
        kmsKeyId: Type.String({ maxLength: 2048 }),
        partSizeBytes: Type.Integer({ minimum: 5_242_880, maximum: 5_368_709_120 }),
        timeoutMs: Type.Integer({ minimum: 100, maximum: 600_000 }),
      },
      { additionalProperties: false },
    ),
    downloads: Type.Object(
      {
        direct: Type.Boolean(),
        cdnBaseUrl: Type.String({ maxLength: 2048 }),
        cdnKeyPairId: Type.String({ maxLength: 256 }),
        cdnPrivateKeyFile: Type.String({ maxLength: 4096 }),
      },
      { additionalProperties: false },
    ),
    uploads: Type.Object(
      {
        maxBytes: Type.Integer({ minimum: 1, maximum: 1_099_511_627_776 }),
        maxChunkBytes: Type.Integer({ minimum: 1024, maximum: 1_073_741_824 }),
        maxSessionsPerUser: Type.Integer({ minimum: 1, maximum: 10_000 }),
        maxStagedBytes: Type.Integer({ minimum: 1, maximum: 1_099_511_627_776 * 16 }),
      },
      { additionalProperties: false },
    ),
    limits: Type.Object(
      {
        bodyBytes: Type.Integer({ minimum: 1024, maximum: 1_073_741_824 }),
        requestTimeoutMs: Type.Integer({ minimum: 0, maximum: 3_600_000 }),
      },
      { additionalProperties: false },
    ),
    rateLimit: Type.Object(
      {
        enabled: Type.Boolean(),
        store: Type.Enum(RATE_LIMIT_STORES),
        syncIntervalMs: Type.Integer({ minimum: 10, maximum: 60_000 }),
        windowMs: Type.Integer({ minimum: 1000, maximum: 3_600_000 }),
        perToken: Type.Integer({ minimum: 1 }),
        perDevice: Type.Integer({ minimum: 1 }),
        anonymous: Type.Integer({ minimum: 1 }),
        failedAuth: Type.Integer({ minimum: 1 }),
        failedLogins: Type.Integer({ minimum: 1 }),
      },
      { additionalProperties: false },
    ),
    auth: Type.Object(
      {
        sessionTtlSeconds: Type.Integer({ minimum: 60, maximum: 2_592_000 }),
        adminUsername: Type.String({ minLength: 1, maxLength: 64 }),
        adminPassword: Type.String({ maxLength: 256 }),
      },
      { additionalProperties: false },
    ),
    metrics: Type.Object({ public: Type.Boolean() }, { additionalProperties: false }),
    device: Type.Object(
      {
        pollIntervalSeconds: Type.Integer({ minimum: 5, maximum: 86_400 }),
        downloadUrlTtlSeconds: Type.Integer({ minimum: 10, maximum: 604_800 }),
        sessionCacheEntries: Type.Integer({ minimum: 0, maximum: 100_000_000 }),
        sessionCacheMaxAgeSeconds: Type.Integer({ minimum: 1, maximum: 86_400 }),
        maxPendingRequests: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
        menderTokenTtlSeconds: Type.Integer({ minimum: 60, maximum: 604_800 }),
      },
      { additionalProperties: false },
    ),
    webhooks: Type.Object(
      {
        maxAttempts: Type.Integer({ minimum: 1, maximum: 100 }),
        timeoutMs: Type.Integer({ minimum: 100, maximum: 120_000 }),
        concurrency: Type.Integer({ minimum: 1, maximum: 256 }),
        pollIntervalMs: Type.Integer({ minimum: 10, maximum: 3_600_000 }),
        retryBaseSeconds: Type.Integer({ minimum: 1, maximum: 86_400 }),
        retryMaxSeconds: Type.Integer({ minimum: 1, maximum: 604_800 }),
        retentionDays: Type.Integer({ minimum: 1, maximum: 3650 }),
      },
      { additionalProperties: false },
    ),
    campaigns: Type.Object(
      {
        tickSeconds: Type.Integer({ minimum: 1, maximum: 3600 }),
        fanOutBatch: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
      },
      { additionalProperties: false },
    ),
    tls: Type.Object(
      {
        enabled: Type.Boolean(),
        minVersion: Type.Enum(TLS_VERSIONS),
        certFile: Type.String(),
        keyFile: Type.String(),
        hosts: Type.Array(Type.String({ minLength: 1, maxLength: 253 }), {
          minItems: 1,
          maxItems: 64,
        }),
        clientCertHeader: Type.String({ pattern: '^([a-z0-9-]{1,64})?$' }),
      },
      { additionalProperties: false },
    ),
    pki: Type.Object(
      {
        deviceCertificateDays: Type.Integer({ minimum: 1, maximum: 3650 }),
        rotationGraceSeconds: Type.Integer({ minimum: 0, maximum: 2_592_000 }),
        enrollmentTokenTtlSeconds: Type.Integer({ minimum: 60, maximum: 31_536_000 }),
        pendingRetryAfterSeconds: Type.Integer({ minimum: 1, maximum: 86_400 }),
      },
      { additionalProperties: false },
    ),
    mqtt: Type.Object(
      {
        mode: Type.Enum(MQTT_MODES),
        host: Type.String({ minLength: 1 }),
        port: Type.Integer({ minimum: 0, maximum: 65535 }),
        publicUrl: Type.String(),
        url: Type.String(),
        certFile: Type.String(),
        keyFile: Type.String(),
        caFile: Type.String(),
        chunkMaxBytes: Type.Integer({ minimum: 1024, maximum: 1_048_576 }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

/** A validated, frozen server configuration. Build it with {@link loadConfig}. */
export type ServerConfig = Readonly<Static<typeof ServerConfigSchema>>;

/** A deep-partial configuration, as read from a file or given by a caller. */
export type ServerConfigInput = {
  [K in keyof ServerConfig]?: Partial<ServerConfig[K]> | ServerConfig[K];
};

type SettingType = 'string' | 'integer' | 'boolean' | 'list';

/** Shortest password a user may have (users, password changes and UPDRAFT_ADMIN_PASSWORD). */
export const MIN_PASSWORD_LENGTH = 12;

// Names proxy-addr (Fastify's trustProxy) accepts besides addresses and CIDRs.
const PROXY_ADDRESS_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/** One row per setting: where it lives, its environment variable, default and meaning. */
export interface Setting {
  readonly path: string;
  readonly env: string;
  readonly type: SettingType;
  /** `undefined` when derived from another setting (see `doc`). */
  readonly default: string | number | boolean | readonly string[] | undefined;
  readonly doc: string;
  /** Never printed (config dumps, logs). */
  readonly secret?: boolean;
}

/** Every setting. docs/configuration.md lists each row (checked by a test). */
export const SETTINGS: readonly Setting[] = [
  {
    path: 'dataDir',
    env: 'UPDRAFT_DATA_DIR',
    type: 'string',
    default: './.updraft',
    doc: 'Data directory (SQLite file, blobs, master key).',
  },
  {
    path: 'host',
    env: 'UPDRAFT_HOST',
    type: 'string',
    default: '127.0.0.1',
    doc: 'Address to listen on.',
  },
  {
    path: 'port',
    env: 'UPDRAFT_PORT',
    type: 'integer',
    default: 8080,
    doc: 'TCP port (0 = any free port).',
  },
  {
    path: 'logLevel',
    env: 'UPDRAFT_LOG_LEVEL',
    type: 'string',
    default: 'info',
    doc: `pino level: ${LOG_LEVELS.join(', ')}.`,
  },
  {
    path: 'trustProxy',
    env: 'UPDRAFT_TRUST_PROXY',
    type: 'list',
    default: [],
    doc: 'Reverse proxies whose X-Forwarded-For/-Proto/-Host are believed: addresses or CIDRs (comma-separated in the variable, e.g. `10.0.0.5,10.1.0.0/16`; also `loopback`, `linklocal`, `uniquelocal`). The client address is the rightmost one not in this list; from any other peer the headers are ignored. Empty = trust none.',
  },
  {
    path: 'shutdownTimeoutMs',
    env: 'UPDRAFT_SHUTDOWN_TIMEOUT_MS',
    type: 'integer',
    default: 10_000,
    doc: 'On SIGTERM/SIGINT, milliseconds requests in flight get to finish once the listener closed (after `shutdownDrainMs`); then their connections are cut and the process exits.',
  },
  {
    path: 'shutdownDrainMs',
    env: 'UPDRAFT_SHUTDOWN_DRAIN_MS',
    type: 'integer',
    default: 0,
    doc: "On SIGTERM/SIGINT, milliseconds during which /readyz already answers 503 while requests are still served (each answered with `connection: close`), so a load balancer stops sending new ones before the listener closes (set it above the balancer's health-check interval, e.g. 5000, behind one).",
  },
  {
    path: 'database.kind',
    env: 'UPDRAFT_DATABASE_KIND',
    type: 'string',
    default: 'sqlite',
    doc: 'sqlite (embedded) or postgres.',
  },
  {
    path: 'database.sqliteFile',
    env: 'UPDRAFT_DATABASE_SQLITE_FILE',
    type: 'string',
    default: undefined,
    doc: 'SQLite file; default `<dataDir>/updraft.db`.',
  },
  {
    path: 'database.url',
    env: 'UPDRAFT_DATABASE_URL',
    type: 'string',
    default: '',
    doc: 'PostgreSQL connection URL (postgres://user@host:5432/db); required when kind is postgres.',
    secret: true,
  },
  {
    path: 'database.schema',
    env: 'UPDRAFT_DATABASE_SCHEMA',
    type: 'string',
    default: 'public',
    doc: 'PostgreSQL schema (search_path) holding Updraft tables.',
  },
  {
    path: 'database.poolMax',
    env: 'UPDRAFT_DATABASE_POOL_MAX',
    type: 'integer',
    default: 10,
    doc: 'PostgreSQL pool size (connections).',
  },
  {
    path: 'blobs.store',
    env: 'UPDRAFT_BLOBS_STORE',
    type: 'string',
    default: 'fs',
    doc: 'Where payloads live: `fs` (encrypted files under `blobs.dir`) or `s3` (an S3-compatible bucket, settings `s3.*`; encrypted at rest by the store, see `s3.sse`).',
  },
  {
    path: 'blobs.dir',
    env: 'UPDRAFT_BLOBS_DIR',
    type: 'string',
    default: undefined,
    doc: 'Filesystem blob store directory; default `<dataDir>/blobs`.',
  },
  {
    path: 'blobs.masterKeyFile',
    env: 'UPDRAFT_BLOBS_MASTER_KEY_FILE',
    type: 'string',
    default: undefined,
    doc: 'File with the 32-byte master key (base64) wrapping blob data keys; default `<dataDir>/master.key`, generated with mode 0600 on first start.',
  },
  {
    path: 'blobs.segmentSize',
    env: 'UPDRAFT_BLOBS_SEGMENT_SIZE',
    type: 'integer',
    default: 1_048_576,
    doc: 'Encryption segment size in bytes (new blobs only; each blob records its own). A Range read decrypts whole segments; larger segments cost fewer cipher set-ups per byte (64 KiB segments downloaded 4× slower than 1 MiB).',
  },
  {
    path: 'blobs.plaintextCacheBytes',
    env: 'UPDRAFT_BLOBS_PLAINTEXT_CACHE_BYTES',
    type: 'integer',
    default: 268_435_456,
    doc: 'Memory for recently downloaded payloads kept decrypted (a rollout sends one image to many devices: it is decrypted once, not per download); payloads over a quarter of it are never kept; 0 turns it off. The store on disk stays encrypted.',
  },
  {
    path: 'blobs.maxConcurrentDecryptions',
    env: 'UPDRAFT_BLOBS_MAX_CONCURRENT_DECRYPTIONS',
    type: 'integer',
    default: 4,
    doc: 'Segment batches (up to 1 MiB each) decrypted at once by all downloads together; the others wait their turn. Bounds the CPU and memory that many concurrent (or many tiny ranged) downloads can take.',
  },
  {
    path: 's3.endpoint',
    env: 'UPDRAFT_S3_ENDPOINT',
    type: 'string',
    default: '',
    doc: 'S3 endpoint URL (empty: AWS S3 of `s3.region`; set it for MinIO, Ceph RGW, R2 and others).',
  },
  {
    path: 's3.region',
    env: 'UPDRAFT_S3_REGION',
    type: 'string',
    default: 'us-east-1',
    doc: 'S3 region (request signing).',
  },
  {
    path: 's3.bucket',
    env: 'UPDRAFT_S3_BUCKET',
    type: 'string',
    default: '',
    doc: 'Bucket holding payloads, patches and staged uploads (required when `blobs.store` is `s3`). Keep it private: devices read through pre-signed URLs.',
  },
  {
    path: 's3.prefix',
    env: 'UPDRAFT_S3_PREFIX',
    type: 'string',
    default: '',
    doc: 'Key prefix inside the bucket, e.g. `updraft/` (several installations may share a bucket).',
  },
  {
    path: 's3.accessKeyId',
    env: 'UPDRAFT_S3_ACCESS_KEY_ID',
    type: 'string',
    default: '',
    doc: "Access key id; empty uses the AWS SDK's default credential chain (AWS_* variables, instance or pod role).",
  },
  {
    path: 's3.secretAccessKey',
    env: 'UPDRAFT_S3_SECRET_ACCESS_KEY',
    type: 'string',
    default: '',
    doc: 'Secret access key (with `s3.accessKeyId`).',
    secret: true,
  },
  {
    path: 's3.forcePathStyle',
    env: 'UPDRAFT_S3_FORCE_PATH_STYLE',
    type: 'boolean',
    default: false,
    doc: 'Path-style addressing (`endpoint/bucket/key`), which most self-hosted S3 servers need.',
  },
  {
    path: 's3.sse',
    env: 'UPDRAFT_S3_SSE',
    type: 'string',
    default: 'AES256',
    doc: "Server-side encryption of every object written: `AES256` (SSE-S3), `aws:kms` (SSE-KMS with `s3.kmsKeyId`) or `none` (the bucket's default encryption applies).",
  },
  {
    path: 's3.kmsKeyId',
    env: 'UPDRAFT_S3_KMS_KEY_ID',
    type: 'string',
    default: '',
    doc: "KMS key id or ARN for `s3.sse=aws:kms` (empty: the bucket's AWS-managed key).",
  },
  {
    path: 's3.partSizeBytes',
    env: 'UPDRAFT_S3_PART_SIZE_BYTES',
    type: 'integer',
    default: 16_777_216,
    doc: 'Multipart upload part size (5 MiB to 5 GiB); a part is buffered in memory while it is sent.',
  },
  {
    path: 's3.timeoutMs',
    env: 'UPDRAFT_S3_TIMEOUT_MS',
    type: 'integer',
    default: 30_000,
    doc: 'Connect and idle-socket timeout of one S3 request; the readiness probe of the bucket uses a fifth of it.',
  },
  {
    path: 'downloads.direct',
    env: 'UPDRAFT_DOWNLOADS_DIRECT',
    type: 'boolean',
    default: true,
    doc: 'With `blobs.store=s3`: check-ins answer with pre-signed, short-lived URLs on the object store (or the CDN below), so payload bytes never pass through the service. Off: the service streams them as with `fs`.',
  },
  {
    path: 'downloads.cdnBaseUrl',
    env: 'UPDRAFT_DOWNLOADS_CDN_BASE_URL',
    type: 'string',
    default: '',
    doc: 'Direct downloads through a CDN in front of the bucket: its base URL (e.g. `https://dxxxx.cloudfront.net`); object keys are appended. Needs `downloads.cdnKeyPairId` and `downloads.cdnPrivateKeyFile`.',
  },
  {
    path: 'downloads.cdnKeyPairId',
    env: 'UPDRAFT_DOWNLOADS_CDN_KEY_PAIR_ID',
    type: 'string',
    default: '',
    doc: "CloudFront public key id (`Key-Pair-Id`) of the CDN's signed URLs.",
  },
  {
    path: 'downloads.cdnPrivateKeyFile',
    env: 'UPDRAFT_DOWNLOADS_CDN_PRIVATE_KEY_FILE',
    type: 'string',
    default: '',
    doc: 'PEM file of the RSA private key that signs CDN URLs (CloudFront canned policy).',
  },
  {
    path: 'uploads.maxBytes',
    env: 'UPDRAFT_UPLOADS_MAX_BYTES',
    type: 'integer',
    default: 4_294_967_296,
    doc: 'Largest payload in bytes a resumable upload session may declare (4 GiB).',
  },
  {
    path: 'uploads.maxChunkBytes',
    env: 'UPDRAFT_UPLOADS_MAX_CHUNK_BYTES',
    type: 'integer',
    default: 16_777_216,
    doc: 'Largest chunk in bytes one `PUT /api/v1/uploads/{id}` may carry (16 MiB).',
  },
  {
    path: 'uploads.maxSessionsPerUser',
    env: 'UPDRAFT_UPLOADS_MAX_SESSIONS_PER_USER',
    type: 'integer',
    default: 16,
    doc: 'Open upload sessions one user may hold at once (finish, delete or let them expire after 24 h to open more).',
  },
  {
    path: 'uploads.maxStagedBytes',
    env: 'UPDRAFT_UPLOADS_MAX_STAGED_BYTES',
    type: 'integer',
    default: 34_359_738_368,
    doc: 'Bytes all open upload sessions of the server may declare together (32 GiB): bounds the space staged uploads take beside the blobs (`blobs.dir`, or `uploads/` in the bucket).',
  },
  {
    path: 'limits.bodyBytes',
    env: 'UPDRAFT_LIMITS_BODY_BYTES',
    type: 'integer',
    default: 1_048_576,
    doc: 'Largest JSON request body in bytes (routes may set their own, e.g. uploads).',
  },
  {
    path: 'limits.requestTimeoutMs',
    env: 'UPDRAFT_LIMITS_REQUEST_TIMEOUT_MS',
    type: 'integer',
    default: 120_000,
    doc: 'Milliseconds before an unfinished request is dropped (0 = none).',
  },
  {
    path: 'rateLimit.enabled',
    env: 'UPDRAFT_RATE_LIMIT_ENABLED',
    type: 'boolean',
    default: true,
    doc: 'Rate limiting on or off.',
  },
  {
    path: 'rateLimit.store',
    env: 'UPDRAFT_RATE_LIMIT_STORE',
    type: 'string',
    default: 'auto',
    doc: 'Where counters live: `memory` (this process), `database` (shared by every replica through PostgreSQL) or `auto` (`database` on PostgreSQL, `memory` on SQLite).',
  },
  {
    path: 'rateLimit.syncIntervalMs',
    env: 'UPDRAFT_RATE_LIMIT_SYNC_INTERVAL_MS',
    type: 'integer',
    default: 250,
    doc: 'With the `database` store: how often a replica adds its local counts to the shared ones and reads the totals back (a client may exceed a budget by what it sends in one interval to each replica).',
  },
  {
    path: 'rateLimit.windowMs',
    env: 'UPDRAFT_RATE_LIMIT_WINDOW_MS',
    type: 'integer',
    default: 60_000,
    doc: 'Rate-limit window in milliseconds.',
  },
  {
    path: 'rateLimit.perToken',
    env: 'UPDRAFT_RATE_LIMIT_PER_TOKEN',
    type: 'integer',
    default: 1_200,
    doc: 'Requests per window per API/session token.',
  },
  {
    path: 'rateLimit.perDevice',
    env: 'UPDRAFT_RATE_LIMIT_PER_DEVICE',
    type: 'integer',
    default: 600,
    doc: 'Requests per window per device token.',
  },
  {
    path: 'rateLimit.anonymous',
    env: 'UPDRAFT_RATE_LIMIT_ANONYMOUS',
    type: 'integer',
    default: 300,
    doc: 'Requests per window per client address (IPv6: per /64) that carry no verified token (logins, health checks, made-up tokens on public routes).',
  },
  {
    path: 'rateLimit.failedAuth',
    env: 'UPDRAFT_RATE_LIMIT_FAILED_AUTH',
    type: 'integer',
    default: 300,
    doc: 'Failed authentications per window per client address before further failures from it are answered 429 instead of 401. The credential is always checked first: valid tokens from that address (devices behind the same NAT) keep working.',
  },
  {
    path: 'rateLimit.failedLogins',
    env: 'UPDRAFT_RATE_LIMIT_FAILED_LOGINS',
    type: 'integer',
    default: 10,
    doc: 'Failed logins per window per client address and username; past it that username cannot log in from that address (answered 429, the password not checked) until the window turns.',
  },
  {
    path: 'auth.sessionTtlSeconds',
    env: 'UPDRAFT_AUTH_SESSION_TTL_SECONDS',
    type: 'integer',
    default: 43_200,
    doc: 'Lifetime of a login session token in seconds.',
  },
  {
    path: 'auth.adminUsername',
    env: 'UPDRAFT_ADMIN_USERNAME',
    type: 'string',
    default: 'admin',
    doc: 'Name of the admin account created on first start.',
  },
  {
    path: 'auth.adminPassword',
    env: 'UPDRAFT_ADMIN_PASSWORD',
    type: 'string',
    default: '',
    doc: `Password of that first admin (at least ${MIN_PASSWORD_LENGTH} characters); empty = generate one, which must be changed at first login: printed once when stdout is a terminal, else written to \`<dataDir>/initial-admin-password\` (mode 0600).`,
    secret: true,
  },
  {
    path: 'metrics.public',
    env: 'UPDRAFT_METRICS_PUBLIC',
    type: 'boolean',
    default: false,
    doc: 'Serve `/metrics` without a token. Off by default: the counts span every tenant, so a token with the `metrics:read` permission (roles admin, auditor) is needed.',
  },
  {
    path: 'device.pollIntervalSeconds',
    env: 'UPDRAFT_DEVICE_POLL_INTERVAL_SECONDS',
    type: 'integer',
    default: 300,
    doc: 'Poll interval (seconds) told to idle devices.',
  },
  {
    path: 'device.downloadUrlTtlSeconds',
    env: 'UPDRAFT_DEVICE_DOWNLOAD_URL_TTL_SECONDS',
    type: 'integer',
    default: 3_600,
    doc: "Window of signed download URLs in seconds (the service's, S3 pre-signed and CDN ones alike): a URL is valid one to two windows and is the same string within one (stable check-in ETags). Keep it short with direct downloads, which cannot be revoked before they expire.",
  },
  {
    path: 'device.sessionCacheEntries',
    env: 'UPDRAFT_DEVICE_SESSION_CACHE_ENTRIES',
    type: 'integer',
    default: 100_000,
    doc: 'Device sessions (credential → device, open action, last report) kept in memory per process, about 0.7 KiB each (`npm run bench:session-memory`), so an idle check-in needs no database round trip; 0 turns the cache off. It also bounds the MQTT push endpoints cached per device (about 0.3 KiB each). Size it to the fleet: a cache smaller than the fleet misses on nearly every poll (each device comes back once per interval).',
  },
  {
    path: 'device.sessionCacheMaxAgeSeconds',
    env: 'UPDRAFT_DEVICE_SESSION_CACHE_MAX_AGE_SECONDS',
    type: 'integer',
    default: 900,
    doc: 'A cached device session is read again after this many seconds. Changes through Updraft (and, on PostgreSQL, any SQL change) reach every replica at once; this bounds only changes made to a SQLite file by another process.',
  },
  {
    path: 'device.maxPendingRequests',
    env: 'UPDRAFT_DEVICE_MAX_PENDING_REQUESTS',
    type: 'integer',
    default: 1_000,
    doc: 'Most device requests (check-ins, reports, envelopes; not payload downloads) one process works on at once. Past it a device gets `DEVICE_SERVICE_BUSY` (503) at once with a Retry-After spread at random over 5 s to one poll interval, so a fleet coming back together (a restart with cold caches, the end of a network outage) is spread out instead of queueing until every device times out. 0 turns the bound off.',
  },
  {
    path: 'device.menderTokenTtlSeconds',
    env: 'UPDRAFT_DEVICE_MENDER_TOKEN_TTL_SECONDS',
    type: 'integer',
    default: 3_600,
    doc: 'Lifetime (seconds) of the token the Mender device API hands a device at `auth_requests` (docs/mender-api.md). Revocation does not wait for it: each request checks the auth set and the device.',
  },
  {
    path: 'webhooks.maxAttempts',
    env: 'UPDRAFT_WEBHOOKS_MAX_ATTEMPTS',
    type: 'integer',
    default: 8,
    doc: 'Attempts per webhook delivery before it is marked `failed` (docs/webhooks.md).',
  },
  {
    path: 'webhooks.timeoutMs',
    env: 'UPDRAFT_WEBHOOKS_TIMEOUT_MS',
    type: 'integer',
    default: 10_000,
    doc: 'Milliseconds one webhook POST may take (connect, send, answer) before the attempt fails.',
  },
  {
    path: 'webhooks.concurrency',
    env: 'UPDRAFT_WEBHOOKS_CONCURRENCY',
    type: 'integer',
    default: 8,
    doc: 'Webhook deliveries one server process sends at once.',
  },
  {
    path: 'webhooks.pollIntervalMs',
    env: 'UPDRAFT_WEBHOOKS_POLL_INTERVAL_MS',
    type: 'integer',
    default: 1_000,
    doc: 'Milliseconds between looks at the webhook outbox for due deliveries.',
  },
  {
    path: 'webhooks.retryBaseSeconds',
    env: 'UPDRAFT_WEBHOOKS_RETRY_BASE_SECONDS',
    type: 'integer',
    default: 30,
    doc: 'Delay before the second attempt; each later one doubles it (with jitter: between half and all of it).',
  },
  {
    path: 'webhooks.retryMaxSeconds',
    env: 'UPDRAFT_WEBHOOKS_RETRY_MAX_SECONDS',
    type: 'integer',
    default: 3_600,
    doc: 'Longest delay between two attempts of a webhook delivery.',
  },
  {
    path: 'webhooks.retentionDays',
    env: 'UPDRAFT_WEBHOOKS_RETENTION_DAYS',
    type: 'integer',
    default: 30,
    doc: 'Days a delivered or failed webhook delivery (and its attempt log) is kept; pending ones are kept until they finish.',
  },
  {
    path: 'campaigns.tickSeconds',
    env: 'UPDRAFT_CAMPAIGN_TICK_SECONDS',
    type: 'integer',
    default: 5,
    doc: 'Seconds between passes of the campaign engine over every running campaign (start scheduled campaigns, admit continuous joiners, health verdicts, fan-out; docs/campaigns.md). A device report pokes its campaign at once, so phases advance without waiting for a pass.',
  },
  {
    path: 'campaigns.fanOutBatch',
    env: 'UPDRAFT_CAMPAIGN_FANOUT_BATCH',
    type: 'integer',
    default: 5_000,
    doc: 'Most targets one engine transaction takes into a phase or gives an action (with its event); a larger fan-out continues at once in further transactions, so device requests and other campaigns get their turn between batches (docs/campaigns.md).',
  },
  {
    path: 'tls.enabled',
    env: 'UPDRAFT_TLS',
    type: 'boolean',
    default: false,
    doc: 'Speak only TLS on the port (flag `--tls`), with mutual TLS for devices on the device API and EST (docs/pki.md). Without `tls.certFile` the server certificate is issued by the tenant CA for `tls.hosts`.',
  },
  {
    path: 'tls.minVersion',
    env: 'UPDRAFT_TLS_MIN_VERSION',
    type: 'string',
    default: 'TLSv1.3',
    doc: 'Lowest TLS version accepted: `TLSv1.3` (default) or `TLSv1.2` (an explicit opt-in for old clients); nothing lower is possible.',
  },
  {
    path: 'tls.certFile',
    env: 'UPDRAFT_TLS_CERT_FILE',
    type: 'string',
    default: '',
    doc: 'PEM server certificate followed by its chain; empty = `<dataDir>/pki/server.pem`, issued (and renewed before expiry) by the tenant CA for `tls.hosts`.',
  },
  {
    path: 'tls.keyFile',
    env: 'UPDRAFT_TLS_KEY_FILE',
    type: 'string',
    default: '',
    doc: 'PEM private key of `tls.certFile`; required with it.',
  },
  {
    path: 'tls.hosts',
    env: 'UPDRAFT_TLS_HOSTS',
    type: 'list',
    default: ['localhost', '127.0.0.1'],
    doc: 'DNS names and IP addresses the generated server certificate is for (comma-separated in the variable).',
  },
  {
    path: 'tls.clientCertHeader',
    env: 'UPDRAFT_TLS_CLIENT_CERT_HEADER',
    type: 'string',
    default: '',
    doc: 'Behind a TLS-terminating proxy: the lower-case header carrying the URL-encoded PEM client certificate (nginx `$ssl_client_escaped_cert`), believed only from `trustProxy` addresses; empty = off.',
  },
  {
    path: 'pki.deviceCertificateDays',
    env: 'UPDRAFT_PKI_DEVICE_CERTIFICATE_DAYS',
    type: 'integer',
    default: 365,
    doc: 'Validity of a device operational certificate issued at enrollment or re-enrollment.',
  },
  {
    path: 'pki.rotationGraceSeconds',
    env: 'UPDRAFT_PKI_ROTATION_GRACE_SECONDS',
    type: 'integer',
    default: 86_400,
    doc: 'How long a device certificate replaced by re-enrollment (`superseded`) is still accepted, so a device that rotated is never refused mid-switch.',
  },
  {
    path: 'pki.enrollmentTokenTtlSeconds',
    env: 'UPDRAFT_PKI_ENROLLMENT_TOKEN_TTL_SECONDS',
    type: 'integer',
    default: 604_800,
    doc: 'Default lifetime of a one-time enrollment token (`updraft pki token create`).',
  },
  {
    path: 'pki.pendingRetryAfterSeconds',
    env: 'UPDRAFT_PKI_PENDING_RETRY_AFTER_SECONDS',
    type: 'integer',
    default: 600,
    doc: 'The `Retry-After` EST answers (202) while a device registered by its birth certificate waits for an operator.',
  },
  {
    path: 'mqtt.mode',
    env: 'UPDRAFT_MQTT_MODE',
    type: 'string',
    default: 'embedded',
    doc: '`embedded` (an MQTT 5 broker in the service, TLS with device certificates), `external` (the service publishes to a broker such as Mosquitto at `mqtt.url`) or `off` (devices poll only). docs/mqtt.md.',
  },
  {
    path: 'mqtt.host',
    env: 'UPDRAFT_MQTT_HOST',
    type: 'string',
    default: '127.0.0.1',
    doc: 'Address the embedded broker listens on.',
  },
  {
    path: 'mqtt.port',
    env: 'UPDRAFT_MQTT_PORT',
    type: 'integer',
    default: 8883,
    doc: 'TCP port of the embedded broker (MQTT over TLS; 0 = any free port).',
  },
  {
    path: 'mqtt.publicUrl',
    env: 'UPDRAFT_MQTT_PUBLIC_URL',
    type: 'string',
    default: '',
    doc: 'The broker URL devices are told in their check-in answer (e.g. `mqtts://mqtt.example.com:8883`); empty = the embedded broker at the first `tls.hosts` name, or `mqtt.url` in external mode.',
  },
  {
    path: 'mqtt.url',
    env: 'UPDRAFT_MQTT_URL',
    type: 'string',
    default: '',
    doc: 'External mode: the broker the service connects to, `mqtts://host:port` (or `mqtt://` on a trusted network).',
  },
  {
    path: 'mqtt.certFile',
    env: 'UPDRAFT_MQTT_CERT_FILE',
    type: 'string',
    default: '',
    doc: "External mode: the service's own client certificate (PEM) for the broker.",
  },
  {
    path: 'mqtt.keyFile',
    env: 'UPDRAFT_MQTT_KEY_FILE',
    type: 'string',
    default: '',
    doc: 'External mode: the private key of `mqtt.certFile`.',
  },
  {
    path: 'mqtt.caFile',
    env: 'UPDRAFT_MQTT_CA_FILE',
    type: 'string',
    default: '',
    doc: "External mode: the CA (PEM) the broker's certificate must chain to.",
  },
  {
    path: 'mqtt.chunkMaxBytes',
    env: 'UPDRAFT_MQTT_CHUNK_MAX_BYTES',
    type: 'integer',
    default: 65_536,
    doc: 'Largest payload chunk a device may ask for in one request of the device API over MQTT (firmware over MQTT).',
  },
];

/** Where {@link loadConfig} reads its layers from; all optional, nothing else is read. */
export interface LoadConfigOptions {
  /** JSON config file; when absent `env.UPDRAFT_CONFIG` names one (optional). */
  file?: string;
  /** Environment (the CLI passes `process.env`; tests pass their own). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Highest layer, e.g. CLI flags. */
  overrides?: ServerConfigInput;
  /** Base for relative paths; default `process.cwd()`. */
  cwd?: string;
}

function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== 'object' || next === null) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts.at(-1) as string] = value;
}

function getPath(source: Record<string, unknown>, dotted: string): unknown {
  let node: unknown = source;
  for (const part of dotted.split('.')) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

function mergeInto(
  target: Record<string, unknown>,
  layer: unknown,
  problems: InputProblem[],
  where: string,
): void {
  if (layer === undefined) return;
  if (typeof layer !== 'object' || layer === null || Array.isArray(layer)) {
    problems.push({ path: where, message: 'must be an object' });
    return;
  }
  for (const [key, value] of Object.entries(layer)) {
    const current = target[key];
    if (
      typeof value === 'object' &&
      value !== null &&
      !Array.isArray(value) &&
      typeof current === 'object' &&
      current !== null
    ) {
      mergeInto(current as Record<string, unknown>, value, problems, `${where}.${key}`);
    } else if (value !== undefined) {
      target[key] = value;
    }
  }
}

function parseEnvValue(setting: Setting, raw: string, problems: InputProblem[]): unknown {
  if (setting.type === 'string') return raw;
  if (setting.type === 'list')
    return raw
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '');
  if (setting.type === 'integer') {
    if (!/^-?\d+$/.test(raw.trim())) {
      problems.push({ path: setting.env, message: `must be an integer, got "${raw}"` });
      return undefined;
    }
    return Number(raw.trim());
  }
  const lowered = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(lowered)) return true;
  if (['0', 'false', 'no', 'off'].includes(lowered)) return false;
  problems.push({ path: setting.env, message: `must be a boolean (true/false), got "${raw}"` });
  return undefined;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/**
 * Builds the server configuration from defaults, a JSON file, `UPDRAFT_*` variables and overrides
 * (later layers win), checks it once and returns it frozen. Every problem is reported in one
 * `CONFIG_INVALID` error.
 *
 * @example
 * const config = loadConfig({ env: process.env });
 * await startServer(config);
 */
export function loadConfig(options: LoadConfigOptions = {}): ServerConfig {
  const env = options.env ?? {};
  const cwd = options.cwd ?? process.cwd();
  const problems: InputProblem[] = [];
  const draft: Record<string, unknown> = {};
  for (const setting of SETTINGS) {
    if (setting.default !== undefined) setPath(draft, setting.path, setting.default);
    else setPath(draft, setting.path, undefined);
  }

  const file = options.file ?? env.UPDRAFT_CONFIG;
  if (file) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path.resolve(cwd, file), 'utf8'));
    } catch (error) {
      problems.push({ path: file, message: `config file: ${(error as Error).message}` });
    }
    mergeInto(draft, parsed, problems, file);
  }

  for (const setting of SETTINGS) {
    const raw = env[setting.env];
    if (raw === undefined || raw === '') continue;
    const value = parseEnvValue(setting, raw, problems);
    if (value !== undefined) setPath(draft, setting.path, value);
  }
  mergeInto(draft, options.overrides, problems, 'overrides');

  // Derived defaults: paths under the data directory, all made absolute once here.
  const dataDir = typeof draft.dataDir === 'string' ? path.resolve(cwd, draft.dataDir) : undefined;
  if (dataDir !== undefined) {
    draft.dataDir = dataDir;
    const derived: Array<[string, string]> = [
      ['database.sqliteFile', 'updraft.db'],
      ['blobs.dir', 'blobs'],
      ['blobs.masterKeyFile', 'master.key'],
    ];
    for (const [key, name] of derived) {
      const current = getPath(draft, key);
      setPath(
        draft,
        key,
        typeof current === 'string' ? path.resolve(dataDir, current) : path.join(dataDir, name),
      );
    }
  }

  for (const error of Value.Errors(ServerConfigSchema, draft)) {
    if (error.keyword === 'boolean') continue; // duplicate of the additionalProperties report
    const where = error.instancePath.slice(1).replaceAll('/', '.') || '(root)';
    if (where === 'trustProxy' && typeof draft.trustProxy === 'boolean') continue; // see below
    const extra =
      error.keyword === 'additionalProperties' ? ` (${JSON.stringify(error.params)})` : '';
    problems.push({ path: where, message: `${error.message}${extra}` });
  }
  problems.push(...semanticProblems(draft));
  if (problems.length > 0) {
    throw new ServerError(
      'CONFIG_INVALID',
      `invalid configuration:\n  - ${problems.map((p) => `${p.path}: ${p.message}`).join('\n  - ')}`,
      {
        details: { problems },
        exposable: true,
      },
    );
  }
  return deepFreeze(draft as ServerConfig);
}

/** Rules across settings, or beyond what the schema says. */
function semanticProblems(draft: Record<string, unknown>): InputProblem[] {
  const problems: InputProblem[] = [];
  if (getPath(draft, 'database.kind') === 'postgres' && !getPath(draft, 'database.url')) {
    problems.push({
      path: 'database.url',
      message: 'required when database.kind is postgres (UPDRAFT_DATABASE_URL)',
    });
  }
  const proxies = getPath(draft, 'trustProxy');
  if (
    typeof proxies === 'boolean' ||
    (Array.isArray(proxies) && proxies.some((p) => p === 'true' || p === 'false'))
  ) {
    problems.push({
      path: 'trustProxy',
      message:
        'a yes/no is no longer accepted: list the addresses or CIDRs of your own reverse proxies (UPDRAFT_TRUST_PROXY=10.0.0.5,10.1.0.0/16)',
    });
  } else if (Array.isArray(proxies)) {
    for (const [i, entry] of proxies.entries()) {
      if (typeof entry === 'string' && !isProxyAddress(entry))
        problems.push({
          path: `trustProxy[${i}]`,
          message: `"${entry}" is not an IP address, a CIDR or one of ${PROXY_ADDRESS_NAMES.join(', ')}`,
        });
    }
  }
  if (getPath(draft, 'blobs.store') === 's3' && !getPath(draft, 's3.bucket')) {
    problems.push({
      path: 's3.bucket',
      message: 'required when blobs.store is s3 (UPDRAFT_S3_BUCKET)',
    });
  }
  const endpoint = getPath(draft, 's3.endpoint');
  if (
    typeof endpoint === 'string' &&
    endpoint !== '' &&
    !/^https?:\/\/[^/?#]+\/?$/.test(endpoint)
  ) {
    problems.push({
      path: 's3.endpoint',
      message: 'must be an http(s) URL without a path, e.g. https://minio.example.com:9000',
    });
  }
  const accessKey = getPath(draft, 's3.accessKeyId');
  const secretKey = getPath(draft, 's3.secretAccessKey');
  if (Boolean(accessKey) !== Boolean(secretKey)) {
    problems.push({
      path: 's3.secretAccessKey',
      message:
        's3.accessKeyId and s3.secretAccessKey go together (set both, or neither for the default credential chain)',
    });
  }
  if (
    getPath(draft, 'rateLimit.store') === 'database' &&
    getPath(draft, 'database.kind') !== 'postgres'
  ) {
    problems.push({
      path: 'rateLimit.store',
      message:
        'database counters need database.kind postgres (a SQLite file is one process: use memory or auto)',
    });
  }
  const cdn = ['cdnBaseUrl', 'cdnKeyPairId', 'cdnPrivateKeyFile'].map((k) =>
    getPath(draft, `downloads.${k}`),
  );
  if (cdn.some(Boolean) && !cdn.every(Boolean)) {
    problems.push({
      path: 'downloads.cdnBaseUrl',
      message:
        'downloads.cdnBaseUrl, downloads.cdnKeyPairId and downloads.cdnPrivateKeyFile go together',
    });
  }
  const cdnBase = cdn[0];
  if (typeof cdnBase === 'string' && cdnBase !== '' && !/^https?:\/\/[^?#]+$/.test(cdnBase)) {
    problems.push({ path: 'downloads.cdnBaseUrl', message: 'must be an http(s) URL' });
  }
  const adminPassword = getPath(draft, 'auth.adminPassword');
  if (
    typeof adminPassword === 'string' &&
    adminPassword !== '' &&
    adminPassword.length < MIN_PASSWORD_LENGTH
  ) {
    problems.push({
      path: 'auth.adminPassword',
      message: `must be at least ${MIN_PASSWORD_LENGTH} characters (UPDRAFT_ADMIN_PASSWORD), like every password`,
    });
  }
  return problems;
}

function isProxyAddress(entry: string): boolean {
  if (PROXY_ADDRESS_NAMES.includes(entry)) return true;
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

/** The configuration with secrets masked, for logs and `updraft server config`. */
export function redactConfig(config: ServerConfig): Record<string, unknown> {
  const copy = structuredClone(config) as Record<string, unknown>;
  for (const setting of SETTINGS) {
    if (setting.secret && getPath(copy, setting.path)) setPath(copy, setting.path, '[redacted]');
  }
  return copy;
}
