import { CliError, ServiceError } from './errors.js';
import { type FetchLike, fetchTrusting } from './https-fetch.js';

/** Largest JSON answer the CLI reads from the service. */
const MAX_JSON_BYTES = 32 * 1024 * 1024;

/** Options of one request. */
export interface RequestOptions {
  readonly method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD';
  /** JSON body (objects) or raw bytes. */
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  /** Per-request timeout in milliseconds (default 60 s). */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/**
 * A small client of the update service's management API (`/api/v1`): bearer token, JSON in and
 * out, problem+json errors turned into {@link ServiceError}s carrying the service's `code`,
 * network failures into `CLI_SERVICE_UNREACHABLE`.
 */
export class ApiClient {
  readonly baseUrl: string;
  readonly #token: string | undefined;
  readonly #fetch: FetchLike;

  /**
   * `extraCaPems`: CA certificates (PEM) trusted in addition to the system roots (`--ca-file`,
   * plus the `NODE_EXTRA_CA_CERTS` ones, which Node's own fetch already trusts when none are given).
   */
  constructor(baseUrl: string, token?: string, extraCaPems: readonly string[] = []) {
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch {
      throw new CliError(
        'CLI_USAGE',
        `--server must be a URL such as http://127.0.0.1:8080 (got "${baseUrl}")`,
      );
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new CliError('CLI_USAGE', `--server must be an http(s) URL (got "${baseUrl}")`);
    }
    this.baseUrl = url.toString().replace(/\/+$/, '');
    this.#token = token;
    this.#fetch = extraCaPems.length === 0 ? fetch : fetchTrusting(extraCaPems);
  }

  /** Sends a request and returns the parsed JSON answer (undefined for 204). */
  async json<T = unknown>(path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.request(path, options);
    if (response.status === 204) return undefined as T;
    const text = await readLimited(response, MAX_JSON_BYTES);
    try {
      return (text === '' ? undefined : JSON.parse(text)) as T;
    } catch {
      throw new CliError(
        'CLI_SERVICE_ERROR',
        `the service answered ${path} with something that is not JSON`,
        {
          details: { status: response.status },
        },
      );
    }
  }

  /** Sends a request; non-2xx answers become a {@link ServiceError}. */
  async request(path: string, options: RequestOptions = {}): Promise<Response> {
    const url = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(options.query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, String(v));
    }
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    let body: string | Uint8Array | undefined;
    if (options.body instanceof Uint8Array) {
      body = options.body;
      headers['content-type'] ??= 'application/octet-stream';
    } else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }
    const timeout = AbortSignal.timeout(options.timeoutMs ?? 60_000);
    const signal =
      options.signal === undefined ? timeout : AbortSignal.any([timeout, options.signal]);
    let response: Response;
    try {
      response = await this.#fetch(url, { method: options.method ?? 'GET', headers, body, signal });
    } catch (error) {
      const reason = timeout.aborted ? 'timed out' : causeText(error);
      throw new CliError(
        'CLI_SERVICE_UNREACHABLE',
        `cannot reach the update service at ${this.baseUrl}: ${reason}`,
        {
          cause: error,
          details: { server: this.baseUrl },
        },
      );
    }
    if (!response.ok) throw await problemError(response);
    return response;
  }
}

async function problemError(response: Response): Promise<ServiceError> {
  let problem: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(await readLimited(response, 64 * 1024));
    if (typeof parsed === 'object' && parsed !== null) problem = parsed as Record<string, unknown>;
  } catch {
    // Not problem+json (a proxy's HTML page, say): the status alone has to do.
  }
  const code =
    typeof problem.code === 'string' && /^[A-Z][A-Z0-9_]{1,63}$/.test(problem.code)
      ? problem.code
      : 'CLI_SERVICE_ERROR';
  const detail = typeof problem.detail === 'string' ? problem.detail : undefined;
  const title = typeof problem.title === 'string' ? problem.title : response.statusText;
  const message = `the update service refused: ${detail ?? title} (HTTP ${response.status})`;
  const extra: Record<string, unknown> = {};
  if (typeof problem.requestId === 'string') extra.requestId = problem.requestId;
  // Where in a submitted expression (a target filter) the problem is.
  if (typeof problem.position === 'object' && problem.position !== null)
    extra.position = problem.position;
  const retryAfter = response.headers.get('retry-after');
  if (retryAfter !== null) extra.retryAfter = retryAfter;
  return new ServiceError(response.status, code, message, extra);
}

async function readLimited(response: Response, max: number): Promise<string> {
  const length = Number(response.headers.get('content-length') ?? '0');
  if (length > max) {
    throw new CliError('CLI_SERVICE_ERROR', `the service's answer is too large (${length} bytes)`);
  }
  const reader = response.body?.getReader();
  if (reader === undefined) return '';
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > max) {
      await reader.cancel();
      throw new CliError(
        'CLI_SERVICE_ERROR',
        `the service's answer is too large (over ${max} bytes)`,
      );
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function causeText(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message ?? 'network error';
}
