import { AgentError } from '../../errors.js';
import type {
  CheckInRequest,
  CheckInResult,
  DeviceAction,
  FeedbackReport,
  FeedbackResult,
  PayloadResponse,
  Transport,
} from '../../ports/transport.js';

/** Settings of {@link HttpTransport}. */
export interface HttpTransportOptions {
  /** Origin (and optional path prefix) of the update service, e.g. `https://updates.example.com`. */
  readonly baseUrl: string;
  /** Device token, sent as `Authorization: Bearer` to the service's origin only (never logged). */
  readonly token: string;
  /** Timeout of a whole JSON request (check-in, feedback, envelope). */
  readonly requestTimeoutMs?: number;
  /** Largest JSON answer accepted. */
  readonly maxJsonBytes?: number;
}

const API = '/api/device/v1';

/**
 * The native device API (docs/device-api.md) over HTTP(S) with Node's fetch. Every answer is
 * treated as hostile: sizes are bounded, shapes are checked, problem+json codes are kept.
 */
export class HttpTransport implements Transport {
  readonly #base: URL;
  readonly #token: string;
  readonly #timeoutMs: number;
  readonly #maxJson: number;

  constructor(options: HttpTransportOptions) {
    this.#base = new URL(options.baseUrl);
    if (this.#base.protocol !== 'http:' && this.#base.protocol !== 'https:') {
      throw new AgentError('AGENT_CONFIG_INVALID', 'server URL must be http or https');
    }
    this.#token = options.token;
    this.#timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.#maxJson = options.maxJsonBytes ?? 1024 * 1024;
  }

  async checkIn(request: CheckInRequest, etag: string | null): Promise<CheckInResult> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (etag) headers['if-none-match'] = etag;
    const res = await this.#fetch(`${API}/check-in`, {
      method: 'POST',
      headers,
      // The service takes a SHA-256 or null: a factory image of unknown digest is reported as null.
      body: JSON.stringify({
        ...request,
        components: request.components.map((c) => ({
          ...c,
          digest: /^[0-9a-f]{64}$/.test(c.digest) ? c.digest : null,
        })),
      }),
    });
    if (res.status === 304) {
      await res.body?.cancel();
      return { status: 304 };
    }
    await expectOk(res, [200]);
    const body = await this.#json(res);
    if (!isCheckInBody(body)) {
      throw new AgentError('AGENT_RESPONSE_INVALID', 'check-in answer has an unexpected shape');
    }
    return { status: 200, etag: res.headers.get('etag'), body };
  }

  async fetchEnvelope(url: string, maxBytes: number): Promise<Uint8Array> {
    const res = await this.#fetch(url, { method: 'GET' });
    await expectOk(res, [200]);
    const bytes = await readLimited(res, maxBytes, 'AGENT_ENVELOPE_TOO_LARGE');
    return bytes;
  }

  async openPayload(url: string, offset: number, signal: AbortSignal): Promise<PayloadResponse> {
    const headers: Record<string, string> = {};
    if (offset > 0) headers.range = `bytes=${offset}-`;
    const res = await this.#fetch(url, { method: 'GET', headers }, signal);
    await expectOk(res, [200, 206]);
    let start = 0;
    let total: number | null = null;
    if (res.status === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
      if (!m || Number(m[1]) !== offset) {
        await res.body?.cancel();
        throw new AgentError('AGENT_RESPONSE_INVALID', 'bad Content-Range on a partial answer');
      }
      start = offset;
      total = m[3] === '*' ? null : Number(m[3]);
    } else {
      const length = res.headers.get('content-length');
      total = length === null ? null : Number(length);
    }
    const stream = res.body;
    if (stream === null) throw new AgentError('AGENT_RESPONSE_INVALID', 'payload has no body');
    return { start, totalSize: total, body: typedErrors(stream) };
  }

  async sendFeedback(actionId: string, report: FeedbackReport): Promise<FeedbackResult> {
    const res = await this.#fetch(`${API}/actions/${encodeURIComponent(actionId)}/feedback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(report),
    });
    if (res.status === 409) {
      await res.body?.cancel();
      return 'conflict';
    }
    await expectOk(res, [200, 201, 202, 204]);
    await res.body?.cancel();
    return 'accepted';
  }

  async #fetch(path: string, init: RequestInit, signal?: AbortSignal): Promise<Response> {
    const url = new URL(path, this.#base);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new AgentError('AGENT_RESPONSE_INVALID', 'refusing a non-HTTP URL');
    }
    const headers = new Headers(init.headers);
    // Signed URLs carry their own authorisation; the token goes to the service's origin only.
    if (url.origin === this.#base.origin) headers.set('authorization', `Bearer ${this.#token}`);
    // Payload downloads are bounded by the stall timer instead of a total timeout.
    const timeout = signal ?? AbortSignal.timeout(this.#timeoutMs);
    try {
      return await fetch(url, { ...init, headers, signal: timeout, redirect: 'error' });
    } catch (cause) {
      throw new AgentError('AGENT_NETWORK_ERROR', 'update service unreachable', {
        cause,
        details: { host: url.host },
      });
    }
  }

  async #json(res: Response): Promise<unknown> {
    const bytes = await readLimited(res, this.#maxJson, 'AGENT_RESPONSE_INVALID');
    try {
      return JSON.parse(Buffer.from(bytes).toString('utf8'));
    } catch (cause) {
      throw new AgentError('AGENT_RESPONSE_INVALID', 'answer is not JSON', { cause });
    }
  }
}

async function expectOk(res: Response, ok: readonly number[]): Promise<void> {
  if (ok.includes(res.status)) return;
  let code: string | null = null;
  try {
    const text = Buffer.from(
      await readLimited(res, 16 * 1024, 'AGENT_RESPONSE_INVALID'),
    ).toString();
    const problem: unknown = JSON.parse(text);
    if (typeof problem === 'object' && problem !== null && 'code' in problem) {
      code = typeof problem.code === 'string' ? problem.code.slice(0, 64) : null;
    }
  } catch {
    // The status alone is reported when the body is not problem+json.
  }
  throw new AgentError('AGENT_SERVER_ERROR', `update service answered ${res.status}`, {
    details: { status: res.status, code },
  });
}

async function readLimited(
  res: Response,
  max: number,
  code: 'AGENT_RESPONSE_INVALID' | 'AGENT_ENVELOPE_TOO_LARGE',
): Promise<Uint8Array> {
  if (res.body === null) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of res.body) {
      total += chunk.length;
      if (total > max) {
        throw new AgentError(code, 'answer over its size limit', { details: { limit: max } });
      }
      chunks.push(chunk);
    }
  } catch (cause) {
    if (cause instanceof AgentError) throw cause;
    throw new AgentError('AGENT_NETWORK_ERROR', 'connection lost while reading', { cause });
  }
  return new Uint8Array(Buffer.concat(chunks));
}

// A connection reset mid-body surfaces from fetch as a bare TypeError; the agent needs a typed one.
async function* typedErrors(stream: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of stream) yield chunk;
  } catch (cause) {
    throw new AgentError('AGENT_NETWORK_ERROR', 'connection lost during the download', { cause });
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCheckInBody(
  v: unknown,
): v is { pollIntervalSeconds: number; action: DeviceAction | null } {
  if (!isRecord(v) || typeof v.pollIntervalSeconds !== 'number') return false;
  return v.action === null || isAction(v.action);
}

function isAction(v: unknown): v is DeviceAction {
  if (!isRecord(v) || typeof v.id !== 'string' || v.id.length > 200) return false;
  if (typeof v.envelopeUrl !== 'string' || typeof v.downloadOnly !== 'boolean') return false;
  if (typeof v.cancelRequested !== 'boolean' || !isRecord(v.release)) return false;
  if (typeof v.release.version !== 'string' || typeof v.release.sequenceNumber !== 'number') {
    return false;
  }
  const w = v.maintenanceWindow;
  if (w !== null && !(isRecord(w) && typeof w.start === 'string' && typeof w.end === 'string')) {
    return false;
  }
  if (!Array.isArray(v.payloads) || v.payloads.length > 64) return false;
  return v.payloads.every(
    (p) =>
      isRecord(p) &&
      typeof p.url === 'string' &&
      typeof p.digest === 'string' &&
      typeof p.size === 'number' &&
      Number.isSafeInteger(p.size) &&
      p.size >= 0,
  );
}
