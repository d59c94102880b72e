import type {
  CheckInRequest,
  CheckInResult,
  Clock,
  FeedbackReport,
  FeedbackResult,
  PayloadResponse,
  Transport,
} from '@updraft/agent';
import { RunStopped } from '../errors.js';

/** Limits of a {@link PacedTransport}. */
export interface PacedTransportOptions {
  /** The device's clock (real time against a real service). */
  readonly clock: Clock;
  /** Least time between two check-ins (default 1 s): bounds the rate whatever the agent does. */
  readonly minCheckInIntervalMs?: number;
  /** Hold after a 429 or 503 that carries no Retry-After (default 60 s, the service's window). */
  readonly defaultRetryAfterMs?: number;
  /** Most requests of any kind; asking for one more stops the run (default: no limit). */
  readonly maxRequests?: number;
  /** True for failures that waiting does not fix (a rejected token): the run stops at once. */
  readonly stopOn?: (error: unknown) => boolean;
  /**
   * The simulation's poll interval (whole seconds, at least 1): replaces the one the service
   * advertises in check-in answers, so a rehearsal sets its devices' cadence (`sim fleet
   * --poll-interval`). The check-in floor and Retry-After holds above still apply.
   */
  readonly pollIntervalSeconds?: number;
}

const RETRY_AFTER_CAP_MS = 3_600_000;

/**
 * A transport that keeps a simulated device polite to a real service: check-ins at most one per
 * `minCheckInIntervalMs`, no request at all while a 429/503's Retry-After runs (the error's
 * `details.retryAfterSeconds` when the transport gives it, `defaultRetryAfterMs` otherwise), a
 * request budget, and a count of what it sent. Waits go through the device's clock, so a
 * {@link BoundedClock} deadline ends them. Failures still reach the agent unchanged.
 */
export class PacedTransport implements Transport {
  /** Requests sent (check-ins, envelopes, payloads, feedback). */
  requests = 0;
  /** Answers that were 429 or 503. */
  rateLimited = 0;
  /** The failure of the last request, or null when it succeeded. */
  lastFailure: unknown = null;
  #holdUntil = 0;
  #lastCheckIn = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly inner: Transport,
    private readonly options: PacedTransportOptions,
  ) {}

  async checkIn(request: CheckInRequest, etag: string | null): Promise<CheckInResult> {
    const result = await this.#send(true, () => this.inner.checkIn(request, etag));
    const poll = this.options.pollIntervalSeconds;
    if (poll === undefined || result.status === 304) return result;
    return { ...result, body: { ...result.body, pollIntervalSeconds: poll } };
  }

  fetchEnvelope(url: string, maxBytes: number): Promise<Uint8Array> {
    return this.#send(false, () => this.inner.fetchEnvelope(url, maxBytes));
  }

  openPayload(url: string, offset: number, signal: AbortSignal): Promise<PayloadResponse> {
    return this.#send(false, () => this.inner.openPayload(url, offset, signal));
  }

  sendFeedback(actionId: string, report: FeedbackReport): Promise<FeedbackResult> {
    return this.#send(false, () => this.inner.sendFeedback(actionId, report));
  }

  async #send<T>(checkIn: boolean, request: () => Promise<T>): Promise<T> {
    const { clock } = this.options;
    const max = this.options.maxRequests ?? Number.POSITIVE_INFINITY;
    if (this.requests >= max) {
      throw new RunStopped('request-budget', `the run used its ${max} requests`);
    }
    let until = this.#holdUntil;
    if (checkIn)
      until = Math.max(until, this.#lastCheckIn + (this.options.minCheckInIntervalMs ?? 1000));
    // Always through the clock, even for no wait: a deadline that passed ends the run here.
    await clock.sleep(Math.max(0, until - clock.now()));
    this.requests += 1;
    if (checkIn) this.#lastCheckIn = clock.now();
    try {
      const result = await request();
      this.lastFailure = null;
      return result;
    } catch (error) {
      this.lastFailure = error;
      const status = statusOf(error);
      if (status === 429 || status === 503) {
        this.rateLimited += 1;
        this.#holdUntil = clock.now() + this.#retryAfterMs(error);
      }
      if (this.options.stopOn?.(error)) {
        throw new RunStopped('refused', 'the service refused the device', { cause: error });
      }
      throw error;
    }
  }

  #retryAfterMs(error: unknown): number {
    const seconds = detailsOf(error)?.retryAfterSeconds;
    if (typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0) {
      return Math.min(RETRY_AFTER_CAP_MS, Math.max(1000, seconds * 1000));
    }
    return this.options.defaultRetryAfterMs ?? 60_000;
  }
}

function detailsOf(error: unknown): Record<string, unknown> | undefined {
  if (typeof error !== 'object' || error === null || !('details' in error)) return undefined;
  const details = (error as { details: unknown }).details;
  return typeof details === 'object' && details !== null
    ? (details as Record<string, unknown>)
    : undefined;
}

/** The HTTP status a transport error carries in its details, if any. */
export function statusOf(error: unknown): number | undefined {
  const status = detailsOf(error)?.status;
  return typeof status === 'number' ? status : undefined;
}
