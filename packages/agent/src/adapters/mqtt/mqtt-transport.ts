import { createHash, randomBytes } from 'node:crypto';
import { AgentError } from '../../errors.js';
import type {
  CheckInRequest,
  CheckInResult,
  FeedbackReport,
  FeedbackResult,
  PayloadResponse,
  Transport,
} from '../../ports/transport.js';
import {
  isCheckInBody,
  isRecord,
  parseJson,
  statusError,
  wireCheckInReport,
} from '../device-api-answers.js';

/** The few methods of a connected mqtt.js (MQTT 5) client the transport uses. */
export interface MqttTransportClient {
  readonly connected: boolean;
  publishAsync(topic: string, payload: Buffer | string, options: object): Promise<unknown>;
  subscribeAsync(topic: string, options: object): Promise<unknown>;
  on(
    event: 'message',
    listener: (topic: string, payload: Buffer, packet: MqttPacket) => void,
  ): unknown;
  on(event: 'close', listener: () => void): unknown;
  removeListener(event: 'message' | 'close', listener: (...args: never[]) => void): unknown;
}

/** What the transport reads of an incoming PUBLISH packet. */
export interface MqttPacket {
  readonly properties?: {
    readonly correlationData?: Buffer;
    readonly userProperties?: Readonly<Record<string, string | string[]>>;
  };
}

/** Settings of {@link MqttTransport}. */
export interface MqttTransportOptions {
  /** A connected MQTT 5 client whose identity on the broker is this device's. */
  readonly client: MqttTransportClient;
  /** `deviceTopicRoot(tenantId, deviceName)` from `@updraft/core`: `updraft/v1/CN=…,O=…`. */
  readonly topicRoot: string;
  /** Timeout of one request (a check-in, one chunk, …). */
  readonly requestTimeoutMs?: number;
  /** Bytes asked for in one payload request (at most the service's `mqtt.chunkMaxBytes`). */
  readonly chunkBytes?: number;
  /** Times a chunk that fails its checks is asked for again before `AGENT_CHUNK_CORRUPT`. */
  readonly chunkRetries?: number;
  /** Largest JSON answer accepted. */
  readonly maxJsonBytes?: number;
  /**
   * The client's MQTT protocol: 5 (default; correlation data and user properties) or 4 (MQTT
   * 3.1.1, as the embedded aedes broker speaks it: the request carries its `id` and the answer
   * leads with a one-line JSON header holding what the properties would).
   */
  readonly protocolVersion?: 4 | 5;
}

/** Longest in-band answer header read (status, offset, length, total, sha256, id). */
const MAX_HEADER_BYTES = 1024;

interface Answer {
  readonly status: number;
  readonly payload: Buffer;
  readonly props: Readonly<Record<string, string>>;
}

interface Pending {
  resolve(answer: Answer): void;
  reject(error: AgentError): void;
}

/**
 * The native device API over MQTT (docs/mqtt.md#device-api-over-mqtt) for devices without HTTP:
 * JSON requests on `<root>/req`, answers on `<root>/res` matched by MQTT 5 correlation data.
 * Payloads come in chunks of the size the agent chooses, each checked against its announced
 * offset, length and SHA-256 (a bad chunk is asked for again, a few times); the agent's own
 * digest and signature checks over the whole image stay as they are. A lost connection rejects
 * what is under way with `AGENT_NETWORK_ERROR`, so the agent resumes from its checkpoint.
 */
export class MqttTransport implements Transport {
  readonly #client: MqttTransportClient;
  readonly #req: string;
  readonly #res: string;
  readonly #timeoutMs: number;
  readonly #chunkBytes: number;
  readonly #chunkRetries: number;
  readonly #maxJson: number;
  readonly #pending = new Map<string, Pending>();
  readonly #inBand: boolean;
  #subscribed: Promise<void> | null = null;

  constructor(options: MqttTransportOptions) {
    if (!/^updraft\/v1\/CN=[^/+#]+,O=[^/+#]+$/.test(options.topicRoot)) {
      throw new AgentError('AGENT_CONFIG_INVALID', 'MQTT topic root must be updraft/v1/CN=…,O=…');
    }
    this.#client = options.client;
    this.#req = `${options.topicRoot}/req`;
    this.#res = `${options.topicRoot}/res`;
    this.#timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.#chunkBytes = options.chunkBytes ?? 16 * 1024;
    this.#chunkRetries = options.chunkRetries ?? 3;
    this.#maxJson = options.maxJsonBytes ?? 1024 * 1024;
    this.#inBand = options.protocolVersion === 4;
    if (!Number.isSafeInteger(this.#chunkBytes) || this.#chunkBytes < 1) {
      throw new AgentError('AGENT_CONFIG_INVALID', 'chunkBytes must be a positive integer');
    }
    this.#client.on('message', this.#onMessage);
    this.#client.on('close', this.#onClose);
  }

  /** Stops listening on the client (the caller owns and ends the connection). */
  close(): void {
    this.#client.removeListener('message', this.#onMessage);
    this.#client.removeListener('close', this.#onClose);
    this.#onClose();
  }

  async checkIn(request: CheckInRequest, etag: string | null): Promise<CheckInResult> {
    const answer = await this.#request({
      op: 'check-in',
      ...(etag ? { ifNoneMatch: etag } : {}),
      report: wireCheckInReport(request),
    });
    if (answer.status === 304) return { status: 304 };
    expectStatus(answer, [200]);
    const parsed = this.#json(answer);
    if (!isRecord(parsed) || !isCheckInBody(parsed.body)) {
      throw new AgentError('AGENT_RESPONSE_INVALID', 'check-in answer has an unexpected shape');
    }
    const tag = parsed.etag;
    return {
      status: 200,
      etag: typeof tag === 'string' && tag.length <= 1024 ? tag : null,
      body: parsed.body,
    };
  }

  async fetchEnvelope(url: string, maxBytes: number): Promise<Uint8Array> {
    const answer = await this.#request({ op: 'envelope', url });
    expectStatus(answer, [200]);
    if (answer.payload.length > maxBytes) {
      throw new AgentError('AGENT_ENVELOPE_TOO_LARGE', 'answer over its size limit', {
        details: { limit: maxBytes },
      });
    }
    return new Uint8Array(answer.payload);
  }

  async openPayload(url: string, offset: number, signal: AbortSignal): Promise<PayloadResponse> {
    const first = await this.#chunk(url, offset, signal);
    const total = first.total;
    const body = async function* (this: MqttTransport): AsyncGenerator<Uint8Array> {
      let at = offset + first.bytes.length;
      if (first.bytes.length > 0) yield first.bytes;
      while (at < total) {
        const next = await this.#chunk(url, at, signal);
        if (next.total !== total) {
          throw new AgentError('AGENT_RESPONSE_INVALID', 'the payload size changed mid-download');
        }
        at += next.bytes.length;
        yield next.bytes;
      }
    }.call(this);
    return { start: offset, totalSize: total, body };
  }

  async sendFeedback(actionId: string, report: FeedbackReport): Promise<FeedbackResult> {
    const answer = await this.#request({ op: 'feedback', actionId, report });
    if (answer.status === 409) return 'conflict';
    expectStatus(answer, [200]);
    return 'accepted';
  }

  /**
   * One chunk from `offset`, checked against what the answer announces (offset, length, total,
   * SHA-256) and the request; one that fails is asked for again, `chunkRetries` times at most.
   */
  async #chunk(
    url: string,
    offset: number,
    signal: AbortSignal,
  ): Promise<{ bytes: Uint8Array; total: number }> {
    let why = '';
    for (let attempt = 0; attempt <= this.#chunkRetries; attempt++) {
      const answer = await this.#request(
        { op: 'payload', url, offset, length: this.#chunkBytes },
        signal,
      );
      expectStatus(answer, [200]);
      const { props, payload } = answer;
      const at = count(props.offset);
      const length = count(props.length);
      const total = count(props.total);
      const digest = createHash('sha256').update(payload).digest('hex');
      if (at !== offset) why = 'offset';
      else if (length !== payload.length || length > this.#chunkBytes) why = 'length';
      else if (total === null || offset + length > total) why = 'total';
      else if (length === 0 && offset < total) why = 'empty';
      else if (props.sha256 !== digest) why = 'sha256';
      else return { bytes: new Uint8Array(payload), total };
    }
    throw new AgentError('AGENT_CHUNK_CORRUPT', 'a payload chunk failed its checks on every try', {
      details: { offset, attempts: this.#chunkRetries + 1, check: why },
    });
  }

  async #request(body: unknown, signal?: AbortSignal): Promise<Answer> {
    if (!this.#client.connected) {
      throw new AgentError('AGENT_SERVER_UNREACHABLE', 'not connected to the MQTT broker');
    }
    if (signal?.aborted) throw aborted();
    await this.#subscribe();
    const id = randomBytes(16);
    const key = id.toString('hex');
    return new Promise<Answer>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#pending.delete(key);
      };
      const fail = (error: AgentError) => {
        done();
        reject(error);
      };
      const onAbort = () => fail(aborted());
      const timer = setTimeout(
        () =>
          fail(
            new AgentError('AGENT_SERVER_UNREACHABLE', 'no answer over MQTT within the timeout', {
              details: { timeoutMs: this.#timeoutMs },
            }),
          ),
        this.#timeoutMs,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(key, {
        resolve: (answer) => {
          done();
          resolve(answer);
        },
        reject: fail,
      });
      this.#client
        .publishAsync(
          this.#req,
          JSON.stringify(this.#inBand ? { ...(body as object), id: key } : body),
          this.#inBand
            ? { qos: 1 }
            : { qos: 1, properties: { correlationData: id, contentType: 'application/json' } },
        )
        .catch((cause: unknown) =>
          fail(
            new AgentError('AGENT_SERVER_UNREACHABLE', 'the MQTT request was not sent', { cause }),
          ),
        );
    });
  }

  #subscribe(): Promise<void> {
    this.#subscribed ??= this.#client.subscribeAsync(this.#res, { qos: 1 }).then(
      () => undefined,
      (cause: unknown) => {
        this.#subscribed = null;
        throw new AgentError('AGENT_SERVER_UNREACHABLE', 'could not subscribe to the answers', {
          cause,
        });
      },
    );
    return this.#subscribed;
  }

  readonly #onMessage = (topic: string, payload: Buffer, packet: MqttPacket): void => {
    if (topic !== this.#res) return;
    const answer = this.#inBand ? unframe(payload) : withProperties(payload, packet);
    // An answer to a request that timed out or was abandoned (or none of ours): nobody waits.
    if (answer === null) return;
    const pending = this.#pending.get(answer.key);
    if (pending === undefined) return;
    const status = count(answer.props.status);
    if (status === null || status < 100 || status > 599) {
      pending.reject(new AgentError('AGENT_RESPONSE_INVALID', 'answer without a valid status'));
      return;
    }
    pending.resolve({ status, payload: answer.body, props: answer.props });
  };

  readonly #onClose = (): void => {
    // The subscription may be gone with the session; the next request subscribes again.
    this.#subscribed = null;
    for (const pending of [...this.#pending.values()]) {
      pending.reject(new AgentError('AGENT_NETWORK_ERROR', 'connection to the MQTT broker lost'));
    }
  };

  #json(answer: Answer): unknown {
    if (answer.payload.length > this.#maxJson) {
      throw new AgentError('AGENT_RESPONSE_INVALID', 'answer over its size limit', {
        details: { limit: this.#maxJson },
      });
    }
    return parseJson(answer.payload);
  }
}

type Received = { key: string; props: Record<string, string>; body: Buffer } | null;

/** MQTT 5: the correlation data names the request, the user properties describe the answer. */
function withProperties(payload: Buffer, packet: MqttPacket): Received {
  const id = packet.properties?.correlationData;
  if (!Buffer.isBuffer(id)) return null;
  const props: Record<string, string> = {};
  for (const [k, v] of Object.entries(packet.properties?.userProperties ?? {})) {
    props[k] = Array.isArray(v) ? String(v[0]) : String(v);
  }
  return { key: id.toString('hex'), props, body: payload };
}

/** MQTT 3.1.1: `<header JSON>\n<body>`, the header holding `id` and what properties would. */
function unframe(payload: Buffer): Received {
  const end = payload.subarray(0, MAX_HEADER_BYTES).indexOf(0x0a);
  if (end < 0) return null;
  let header: unknown;
  try {
    header = JSON.parse(payload.subarray(0, end).toString('utf8'));
  } catch {
    return null;
  }
  if (!isRecord(header) || typeof header.id !== 'string') return null;
  const props: Record<string, string> = {};
  for (const [k, v] of Object.entries(header)) {
    if (typeof v === 'string' || typeof v === 'number') props[k] = String(v);
  }
  return { key: header.id, props, body: payload.subarray(end + 1) };
}

function aborted(): AgentError {
  return new AgentError('AGENT_NETWORK_ERROR', 'the MQTT request was aborted');
}

/** A non-negative decimal integer property, else null. */
function count(value: string | undefined): number | null {
  if (value === undefined || !/^\d{1,15}$/.test(value)) return null;
  return Number(value);
}

function expectStatus(answer: Answer, ok: readonly number[]): void {
  if (!ok.includes(answer.status)) throw statusError(answer.status, answer.payload);
}
