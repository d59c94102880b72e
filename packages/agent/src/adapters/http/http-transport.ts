import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { AgentError } from '../../errors.js';
import type { DeviceIdentity } from '../../identity/identity-store.js';
import type { PinnedCa } from '../../identity/pinned-ca.js';
import type {
  CheckInRequest,
  CheckInResult,
  FeedbackReport,
  FeedbackResult,
  PayloadResponse,
  Transport,
} from '../../ports/transport.js';
import { isCheckInBody, parseJson, statusError, wireCheckInReport } from '../device-api-answers.js';
import { connectionError } from './connection-error.js';
import { parseRetryAfter, readLimited } from './read-answer.js';

/** Settings of {@link HttpTransport}. */
export interface HttpTransportOptions {
  /** Origin (and optional path prefix) of the update service, e.g. `https://updates.example.com`. */
  readonly baseUrl: string;
  /**
   * Device token, sent as `Authorization: Bearer` to the service's origin only (never logged), and
   * only while the device has no certificate: development setups and devices without mTLS.
   */
  readonly token?: string;
  /**
   * The pinned CA (issuing CA or root): the only trust anchor for the service's certificate, which
   * also refuses TLS below 1.3. Requires an `https:` URL.
   */
  readonly pinnedCa?: PinnedCa;
  /**
   * The device's certificate and key for mutual TLS, read before every request, so a rotation
   * takes effect on the next request (the connection pool is keyed by certificate and key).
   */
  readonly identity?: { current(): DeviceIdentity | null };
  /**
   * PEM of the CA(s) trusted for direct downloads on other hosts (an object store's pre-signed
   * URL, a CDN); absent: the system's trust store. The service's own origin keeps the pin.
   */
  readonly downloadCa?: string;
  /** Timeout of a whole JSON request (check-in, feedback, envelope). */
  readonly requestTimeoutMs?: number;
  /** Largest JSON answer accepted. */
  readonly maxJsonBytes?: number;
}

const API = '/api/device/v1';

/**
 * The native device API (docs/device-api.md) over HTTP(S) with node:http (lighter than fetch on
 * small devices: no web-stream layer, nothing to warm up). Every answer is treated as hostile:
 * sizes are bounded, shapes are checked, problem+json codes are kept, redirects are not followed.
 */
export class HttpTransport implements Transport {
  readonly #base: URL;
  readonly #token: string | null;
  readonly #pin: PinnedCa | null;
  readonly #identity: { current(): DeviceIdentity | null } | null;
  readonly #downloadCa: string | null;
  readonly #timeoutMs: number;
  readonly #maxJson: number;

  constructor(options: HttpTransportOptions) {
    this.#base = new URL(options.baseUrl);
    if (this.#base.protocol !== 'http:' && this.#base.protocol !== 'https:') {
      throw new AgentError('AGENT_CONFIG_INVALID', 'server URL must be http or https');
    }
    this.#token = options.token ?? null;
    this.#pin = options.pinnedCa ?? null;
    this.#identity = options.identity ?? null;
    this.#downloadCa = options.downloadCa ?? null;
    if (this.#pin !== null && this.#base.protocol !== 'https:') {
      throw new AgentError('AGENT_CONFIG_INVALID', 'a pinned CA needs an https server URL');
    }
    if (this.#token === null && this.#identity === null) {
      throw new AgentError('AGENT_CONFIG_INVALID', 'a device token or a device identity is needed');
    }
    this.#timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.#maxJson = options.maxJsonBytes ?? 1024 * 1024;
  }

  async checkIn(request: CheckInRequest, etag: string | null): Promise<CheckInResult> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (etag) headers['if-none-match'] = etag;
    const body = JSON.stringify(wireCheckInReport(request));
    const signal = AbortSignal.timeout(this.#timeoutMs);
    const res = await this.#send('POST', `${API}/check-in`, headers, body, signal);
    if (res.statusCode === 304) {
      res.resume();
      return { status: 304 };
    }
    await expectStatus(res, [200]);
    const parsed = parseJson(await readLimited(res, this.#maxJson, 'AGENT_RESPONSE_INVALID'));
    if (!isCheckInBody(parsed)) {
      throw new AgentError('AGENT_RESPONSE_INVALID', 'check-in answer has an unexpected shape');
    }
    const tag = res.headers.etag;
    return { status: 200, etag: typeof tag === 'string' ? tag : null, body: parsed };
  }

  async fetchEnvelope(url: string, maxBytes: number): Promise<Uint8Array> {
    const res = await this.#send('GET', url, {}, null, AbortSignal.timeout(this.#timeoutMs));
    await expectStatus(res, [200]);
    return readLimited(res, maxBytes, 'AGENT_ENVELOPE_TOO_LARGE');
  }

  async openPayload(url: string, offset: number, signal: AbortSignal): Promise<PayloadResponse> {
    const headers: Record<string, string> = {};
    if (offset > 0) headers.range = `bytes=${offset}-`;
    // No total timeout: a download is bounded by the agent's stall timer through `signal`.
    const res = await this.#send('GET', url, headers, null, signal);
    await expectStatus(res, [200, 206]);
    let start = 0;
    let total: number | null = null;
    if (res.statusCode === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
      if (!m || Number(m[1]) !== offset) {
        res.destroy();
        throw new AgentError('AGENT_RESPONSE_INVALID', 'bad Content-Range on a partial answer');
      }
      start = offset;
      total = m[3] === '*' ? null : Number(m[3]);
    } else {
      const length = res.headers['content-length'];
      total = length === undefined ? null : Number(length);
    }
    return { start, totalSize: total, body: typedErrors(res) };
  }

  async sendFeedback(actionId: string, report: FeedbackReport): Promise<FeedbackResult> {
    const res = await this.#send(
      'POST',
      `${API}/actions/${encodeURIComponent(actionId)}/feedback`,
      { 'content-type': 'application/json' },
      JSON.stringify(report),
      AbortSignal.timeout(this.#timeoutMs),
    );
    if (res.statusCode === 409) {
      res.resume();
      return 'conflict';
    }
    await expectStatus(res, [200, 201, 202, 204]);
    res.resume();
    return 'accepted';
  }

  async #send(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: string | null,
    signal: AbortSignal,
  ): Promise<IncomingMessage> {
    const url = new URL(path, this.#base);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new AgentError('AGENT_RESPONSE_INVALID', 'refusing a non-HTTP URL');
    }
    // Signed URLs carry their own authorisation (and are checked against the signed manifest's
    // digest): credentials and the pin apply to the service's origin only.
    const all = { ...headers };
    const own = url.origin === this.#base.origin;
    const identity = own ? (this.#identity?.current() ?? null) : null;
    if (own && identity === null && this.#token !== null) {
      all.authorization = `Bearer ${this.#token}`;
    }
    if (body !== null) all['content-length'] = String(Buffer.byteLength(body));
    // Another origin (a direct download) gets no credential, no client certificate and not the
    // pin: its own CA when configured, else the system's trust store.
    const tls =
      url.protocol !== 'https:'
        ? {}
        : own
          ? {
              ...(this.#pin?.tlsOptions() ?? {}),
              ...(identity === null ? {} : clientCertificate(identity)),
            }
          : this.#downloadCa === null
            ? {}
            : { ca: this.#downloadCa };
    return new Promise<IncomingMessage>((resolve, reject) => {
      const request = (url.protocol === 'https:' ? httpsRequest : httpRequest)(
        url,
        { method, headers: all, signal, ...tls },
        resolve,
      );
      // No answer at all (refused, reset, DNS, TLS handshake, timeout).
      request.on('error', (cause) => reject(connectionError(cause, url)));
      request.end(body ?? undefined);
    });
  }
}

/** node:tls options presenting the device's certificate (chain included) and its key. */
export function clientCertificate(identity: DeviceIdentity): Record<string, string> {
  return {
    cert: [identity.certificatePem, ...identity.chainPem].join('\n'),
    ...identity.key.tlsKey(),
  };
}

async function expectStatus(res: IncomingMessage, ok: readonly number[]): Promise<void> {
  const status = res.statusCode ?? 0;
  if (ok.includes(status)) return;
  const body = await readLimited(res, 16 * 1024, 'AGENT_RESPONSE_INVALID').catch(() => null);
  const retryAfterSeconds = status === 429 || status === 503 ? parseRetryAfter(res) : null;
  throw statusError(status, body, retryAfterSeconds === null ? {} : { retryAfterSeconds });
}

// A connection reset mid-body surfaces from fetch as a bare TypeError; the agent needs a typed one.
async function* typedErrors(stream: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of stream) yield chunk;
  } catch (cause) {
    throw new AgentError('AGENT_NETWORK_ERROR', 'connection lost during the download', { cause });
  }
}
