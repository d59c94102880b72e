import { createHash } from 'node:crypto';
import { DEVICE_TOPICS, type FeedbackAnswer, parseDeviceTopic } from '@updraft/core';
import type { Kysely } from 'kysely';
import type { DevicePrincipal } from '../../auth/principal.js';
import type { Database } from '../../db/database.js';
import { ServerError } from '../../errors.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { MqttBus, MqttMessage, MqttPublishOptions } from '../../mqtt/mqtt-bus.js';
import type { BlobStore } from '../../ports/blob-store.js';
import { refuseOtherDevice, verifySignedBlob } from '../../signed-url/signed-blob-route.js';
import type { SignedUrl } from '../../signed-url/signed-url.js';
import type { ActionService } from '../actions/action.service.js';
import type { DeltaService } from '../deltas/delta.service.js';
import type { CheckInService } from '../device-api/check-in.service.js';
import { findServablePayload } from '../releases/release.repository.js';
import { findMqttDevice } from './device-mqtt.repository.js';
import { type DeviceMqttRequest, readDeviceMqttRequest } from './device-mqtt-request.js';

const ENVELOPE_URL = /^\/api\/device\/v1\/actions\/(act_[A-Za-z0-9_-]{1,64})\/envelope$/;
const PAYLOAD_PATH = /^\/api\/device\/v1\/(artifacts|deltas)\/([0-9a-f]{64})$/;
/** Correlation data longer than this is not echoed (a device needs 16 bytes or so). */
const MAX_CORRELATION_BYTES = 64;

/** Bounds of the responder. */
export interface DeviceMqttLimits {
  /** Largest chunk a payload request may ask for (`mqtt.chunkMaxBytes`). */
  readonly chunkMaxBytes: number;
  /** Requests of one device handled at once; more are answered `MQTT_BUSY`. */
  readonly perDevice: number;
  /** Requests of all devices handled at once. */
  readonly total: number;
}

export const DEFAULT_DEVICE_MQTT_LIMITS: Omit<DeviceMqttLimits, 'chunkMaxBytes'> = {
  perDevice: 4,
  total: 256,
};

/** What the responder works with (the device API feature's own services). */
export interface DeviceMqttResponderDeps {
  readonly bus: MqttBus;
  readonly db: Kysely<Database>;
  readonly blobs: BlobStore;
  readonly metrics: Metrics;
  readonly checkIns: CheckInService;
  readonly actions: ActionService;
  /** Signs and checks payload URLs (`/artifacts/…`), the device API's own. */
  readonly payloadUrls: SignedUrl;
  /** Patch URLs (`/deltas/…`): their key, sizes and the delivery count. */
  readonly deltas: Pick<
    DeltaService,
    'urls' | 'readyPatchSize' | 'recordDownload' | 'recordReported'
  >;
  readonly now: () => Date;
  readonly limits: DeviceMqttLimits;
  readonly log: {
    warn(fields: Record<string, unknown>, msg: string): void;
    error(fields: Record<string, unknown>, msg: string): void;
  };
}

/** One answer: JSON, raw bytes, or a problem, with its status as a user property. */
interface Answer {
  readonly status: number;
  readonly body: Buffer;
  readonly contentType: string;
  readonly properties?: Readonly<Record<string, string>>;
}

/**
 * The native device API over MQTT (docs/mqtt.md#device-api-over-mqtt), for devices without HTTP:
 * requests on `updraft/v1/<identity>/req`, answers on the same device's `…/res` with the
 * request's correlation data. The device is the one the topic names — the broker's ACL lets a
 * connection publish only under its own identity — and a request's `responseTopic` is ignored,
 * so nobody can make the service answer on another device's topic. Check-in, envelope and
 * feedback go through the same services as the HTTP routes; payload chunks are read from signed
 * URLs verified exactly as the download routes verify them.
 */
export class DeviceMqttResponder {
  readonly #deps: DeviceMqttResponderDeps;
  readonly #perDevice = new Map<string, number>();
  #inFlight = 0;
  readonly #running = new Set<Promise<void>>();
  #unsubscribe: (() => Promise<void>) | null = null;

  constructor(deps: DeviceMqttResponderDeps) {
    this.#deps = deps;
  }

  /** Subscribes to every device's request topic. */
  async start(): Promise<void> {
    this.#unsubscribe = await this.#deps.bus.subscribe('updraft/v1/+/req', (message) => {
      const run = this.#handle(message).catch((error: unknown) =>
        this.#deps.log.error({ err: error }, 'device API over MQTT: answer not sent'),
      );
      this.#running.add(run);
      void run.finally(() => this.#running.delete(run));
    });
  }

  /** Stops taking requests and waits for the ones under way. */
  async close(): Promise<void> {
    await this.#unsubscribe?.();
    this.#unsubscribe = null;
    await Promise.allSettled([...this.#running]);
  }

  async #handle(message: MqttMessage): Promise<void> {
    const topic = parseDeviceTopic(message.topic);
    // Nothing else is subscribed; a topic outside the pattern has no device to answer.
    if (topic?.suffix !== DEVICE_TOPICS.request) return;
    const { deviceName: name, tenantId } = topic;
    const key = `${tenantId}/${name}`;
    const mine = this.#perDevice.get(key) ?? 0;
    const { limits } = this.#deps;
    const read = readDeviceMqttRequest(message.payload, limits.chunkMaxBytes);
    let answer: Answer;
    if (mine >= limits.perDevice || this.#inFlight >= limits.total) {
      answer = problem(new ServerError('MQTT_BUSY', 'too many requests in flight; retry later'));
    } else {
      this.#perDevice.set(key, mine + 1);
      this.#inFlight += 1;
      try {
        answer = await this.#answer(tenantId, name, read.request);
      } finally {
        this.#inFlight -= 1;
        const left = (this.#perDevice.get(key) ?? 1) - 1;
        if (left === 0) this.#perDevice.delete(key);
        else this.#perDevice.set(key, left);
      }
    }
    const properties = { status: String(answer.status), ...answer.properties };
    const options: MqttPublishOptions = {
      qos: 1,
      contentType: answer.contentType,
      userProperties: properties,
      // An answer nobody collects within a minute is stale (the device has timed out).
      messageExpirySeconds: 60,
      ...(message.correlationData && message.correlationData.length <= MAX_CORRELATION_BYTES
        ? { correlationData: message.correlationData }
        : {}),
    };
    // Without MQTT 5 (the embedded aedes broker speaks 3.1.1) properties are not carried: the
    // answer then leads with them as a one-line JSON header (docs/mqtt.md).
    const body =
      message.correlationData === undefined
        ? frameAnswer(
            {
              id: read.id,
              contentType: answer.contentType,
              ...properties,
            },
            answer.body,
          )
        : answer.body;
    await this.#deps.bus.publish(
      message.topic.slice(0, -'req'.length).concat('res'),
      body,
      options,
    );
  }

  async #answer(
    tenantId: string,
    name: string,
    request: DeviceMqttRequest | ServerError,
  ): Promise<Answer> {
    try {
      if (request instanceof ServerError) throw request;
      const device = await findMqttDevice(this.#deps.db, tenantId, name);
      if (device === undefined) {
        throw new ServerError('MQTT_DEVICE_REFUSED', 'no accepted device has this identity');
      }
      return await this.#dispatch(device, request);
    } catch (error) {
      if (error instanceof ServerError && error.exposable) return problem(error);
      this.#deps.log.error({ err: error, tenantId, device: name }, 'device API over MQTT failed');
      return problem(new ServerError('HTTP_INTERNAL', 'internal error'));
    }
  }

  async #dispatch(device: DevicePrincipal, request: DeviceMqttRequest): Promise<Answer> {
    const { checkIns, actions } = this.#deps;
    switch (request.op) {
      case 'check-in': {
        // Chunks are served by the service: the answer carries its own URLs, never direct ones.
        const answer = await checkIns.checkIn(
          device,
          request.report,
          request.ifNoneMatch,
          undefined,
          'mqtt',
        );
        const counter = this.#deps.metrics.checkIns;
        if (answer.status === 304) {
          counter.inc({ outcome: 'not_modified' });
          return json(304, { status: 304, etag: answer.etag });
        }
        counter.inc({ outcome: answer.body.action === null ? 'idle' : 'action' });
        return json(200, { status: 200, etag: answer.etag, body: answer.body });
      }
      case 'envelope': {
        const m = ENVELOPE_URL.exec(request.url);
        if (m === null) throw new ServerError('MQTT_REQUEST_INVALID', 'not an envelope URL');
        const bytes = await checkIns.envelope(device, m[1]!);
        return {
          status: 200,
          body: Buffer.from(bytes),
          contentType: 'application/suit-envelope+cose',
        };
      }
      case 'payload':
        return this.#chunk(device, request.url, request.offset, request.length);
      case 'feedback': {
        const r = request.report;
        const { action, replayed } = await actions.report(device, request.actionId, {
          reportId: r.reportId,
          status: r.status,
          progress: r.progress ?? null,
          code: r.code ?? null,
          message: r.message ?? null,
        });
        if (r.deltas !== undefined && r.deltas.length > 0)
          await this.#deps.deltas
            .recordReported(device.tenantId, device.deviceId, action.id, r.deltas)
            .catch((error: unknown) =>
              this.#deps.log.error({ err: error }, 'could not record reported delta deliveries'),
            );
        const answer: FeedbackAnswer = {
          id: action.id,
          state: action.state,
          cancelRequested: action.cancelRequested,
          replayed,
        };
        return json(200, answer);
      }
    }
  }

  /** One chunk of a payload or patch, through its signed URL, checked like the HTTP download. */
  async #chunk(
    device: DevicePrincipal,
    url: string,
    offset: number,
    length: number,
  ): Promise<Answer> {
    let parsed: URL;
    try {
      parsed = new URL(url, 'http://device-api.invalid');
    } catch {
      throw new ServerError('DEVICE_URL_INVALID', 'download URL is malformed');
    }
    const m = PAYLOAD_PATH.exec(parsed.pathname);
    if (m === null || parsed.origin !== 'http://device-api.invalid') {
      throw new ServerError('DEVICE_URL_INVALID', 'not a payload or patch URL of this service');
    }
    const [, kind, digest] = m as unknown as [string, 'artifacts' | 'deltas', string];
    const { db, deltas, blobs, metrics } = this.#deps;
    const query: Record<string, string> = {};
    for (const [k, v] of parsed.searchParams) {
      // A repeated parameter is no URL this service signed.
      if (k in query) throw new ServerError('DEVICE_URL_INVALID', 'download URL is malformed');
      query[k] = v;
    }
    const urls = kind === 'artifacts' ? this.#deps.payloadUrls : deltas.urls;
    const claims = await verifySignedBlob(urls, db, digest, query, this.#deps.now().getTime());
    refuseOtherDevice(claims, device);
    let size: number;
    if (kind === 'artifacts') {
      const payload = await findServablePayload(db, claims.tenantId, digest);
      if (payload === undefined) throw new ServerError('RESOURCE_NOT_FOUND', 'no such artifact');
      size = payload.size;
    } else {
      size = await deltas.readyPatchSize(claims.tenantId, digest);
    }
    if (offset > size) {
      throw new ServerError('DEVICE_RANGE_NOT_SATISFIABLE', `the blob has ${size} bytes`, {
        details: { total: size },
      });
    }
    const end = Math.min(offset + length, size);
    const body = end > offset ? await readAll(blobs, digest, offset, end - 1) : Buffer.alloc(0);
    metrics.downloads.inc({ kind: kind === 'artifacts' ? 'mqtt_chunk' : 'delta_mqtt_chunk' });
    metrics.downloadBytes.inc(body.length);
    // The chunk that reaches the last byte completes a patch download, as on HTTP.
    if (kind === 'deltas' && end === size && body.length > 0) {
      await deltas.recordDownload(claims.tenantId, claims.deviceId, digest);
    }
    return {
      status: 200,
      body,
      contentType: 'application/octet-stream',
      properties: {
        offset: String(offset),
        length: String(body.length),
        total: String(size),
        sha256: createHash('sha256').update(body).digest('hex'),
      },
    };
  }
}

/** `<header JSON>\n<body>`: JSON.stringify escapes every newline, so the first one ends it. */
export function frameAnswer(header: Record<string, unknown>, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), body]);
}

async function readAll(blobs: BlobStore, digest: string, start: number, end: number) {
  const parts: Buffer[] = [];
  for await (const part of await blobs.read(digest, { start, end })) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

function json(status: number, value: unknown): Answer {
  return { status, body: Buffer.from(JSON.stringify(value)), contentType: 'application/json' };
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Content Too Large',
  416: 'Range Not Satisfiable',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
};

/** `{ code, title, detail }` (+ `details` when the error has them), status as a property. */
function problem(error: ServerError): Answer {
  const body = {
    code: error.code,
    title: TITLES[error.status] ?? 'Error',
    detail: error.message,
    ...(Object.keys(error.details).length > 0 ? { details: error.details } : {}),
  };
  return {
    status: error.status,
    body: Buffer.from(JSON.stringify(body)),
    contentType: 'application/problem+json',
  };
}
