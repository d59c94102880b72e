import type { FastifyInstance } from 'fastify';
import { bearerToken } from '../auth/device-authenticator.js';
import type { ServerConfig } from '../config/config.js';
import { ServerError } from '../errors.js';

/** Most distinct keys counted in one window; past it new keys go uncounted (memory bound). */
const MAX_KEYS = 1_000_000;

/**
 * Fixed-window counters: every key's count resets when the window turns (all at once, so the map
 * is simply dropped and memory stays bounded by the keys seen in one window). A burst of up to
 * twice the budget across a window boundary is possible; that is the price of O(1) per request.
 */
export class FixedWindowCounter {
  #counts = new Map<string, number>();
  #windowEnd = 0;

  constructor(
    private readonly windowMs: number,
    private readonly clock: () => number = Date.now,
    private readonly maxKeys = MAX_KEYS,
  ) {}

  /** Counts one hit of `key`; returns the count in this window (0 when the key went uncounted). */
  hit(key: string): number {
    this.#turn();
    const count = (this.#counts.get(key) ?? 0) + 1;
    if (count === 1 && this.#counts.size >= this.maxKeys) return 0;
    this.#counts.set(key, count);
    return count;
  }

  /** The count of `key` in this window, without counting. */
  peek(key: string): number {
    this.#turn();
    return this.#counts.get(key) ?? 0;
  }

  /** Whole seconds until the window turns (at least 1), for Retry-After. */
  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil((this.#windowEnd - this.clock()) / 1000));
  }

  #turn(): void {
    const now = this.clock();
    if (now < this.#windowEnd) return;
    this.#counts = new Map();
    this.#windowEnd = now - (now % this.windowMs) + this.windowMs;
  }
}

/**
 * Rate limits, before any database lookup: per device token, per API/session token (keyed by the
 * token; counters live in process memory only) or per client address without a token. Answers
 * 429 `HTTP_RATE_LIMITED` with Retry-After. An address whose requests failed authentication
 * more than the anonymous budget in a window is refused whatever token it sends next, so a flood
 * of made-up tokens (each a fresh key) is stopped too.
 *
 * Own code rather than @fastify/rate-limit: on the idle device check-in that plugin cost ~15 µs
 * per request (several awaits, an LRU, three headers on every answer) — a sixth of the request.
 * Counters are per process: with N replicas behind a balancer a client gets up to N × the budget.
 */
export function installRateLimits(app: FastifyInstance, limits: ServerConfig['rateLimit']): void {
  if (!limits.enabled) return;
  const counter = new FixedWindowCounter(limits.windowMs);
  const failures = new FixedWindowCounter(limits.windowMs);
  const refuse = (max: number) =>
    new ServerError(
      'HTTP_RATE_LIMITED',
      `Rate limit exceeded; retry in ${counter.retryAfterSeconds()} s.`,
      { details: { max } },
    );
  // Callback style: this runs on every request, and a promise per hook shows.
  app.addHook('onRequest', (request, reply, done) => {
    if (failures.peek(request.ip) > limits.anonymous) {
      reply.header('retry-after', failures.retryAfterSeconds());
      return done(refuse(limits.anonymous));
    }
    const token = bearerToken(request.headers);
    let key: string;
    let max: number;
    if (token === undefined) {
      key = `ip:${request.ip}`;
      max = limits.anonymous;
    } else if (token.startsWith('updraft_device_')) {
      key = `dev:${token}`;
      max = limits.perDevice;
    } else {
      key = `tok:${token}`;
      max = limits.perToken;
    }
    if (counter.hit(key) > max) {
      reply.header('retry-after', counter.retryAfterSeconds());
      return done(refuse(max));
    }
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    if (reply.statusCode === 401) failures.hit(request.ip);
    done();
  });
}
