import { isIPv6 } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { bearerToken } from '../auth/device-authenticator.js';
import type { ServerConfig } from '../config/config.js';
import { ServerError } from '../errors.js';
import { mayCarrySessionCookie } from './browser-session.js';

/**
 * Most distinct keys one counter holds in a window (≈100 B each, so ≈10 MiB). Past it, new keys
 * share one overflow key with the same budget: a flood of fresh addresses is limited as one
 * client instead of going uncounted.
 */
export const RATE_LIMIT_MAX_KEYS = 100_000;

const OVERFLOW_KEY = '\u0000overflow';

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
    private readonly maxKeys = RATE_LIMIT_MAX_KEYS,
  ) {}

  /**
   * Counts one hit of `key`; returns the count in this window. A new key arriving when the
   * counter is full is counted under the shared overflow key (never uncounted).
   */
  hit(key: string): number {
    this.#turn();
    let counted = key;
    if (!this.#counts.has(key) && this.#counts.size >= this.maxKeys) counted = OVERFLOW_KEY;
    const count = (this.#counts.get(counted) ?? 0) + 1;
    this.#counts.set(counted, count);
    return count;
  }

  /** The count of `key` in this window, without counting (a key never seen reads as overflow when full). */
  peek(key: string): number {
    this.#turn();
    const count = this.#counts.get(key);
    if (count !== undefined) return count;
    return this.#counts.size >= this.maxKeys ? (this.#counts.get(OVERFLOW_KEY) ?? 0) : 0;
  }

  /** Keys held in this window (the memory bound's measure). */
  get size(): number {
    this.#turn();
    return this.#counts.size;
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
 * The key of a client address: IPv4 as is, IPv6 by its /64 (one subscriber usually holds a whole
 * /64, so rotating addresses inside it must not buy a fresh budget).
 */
export function addressKey(ip: string): string {
  if (!isIPv6(ip)) return ip;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1] as string;
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = ip.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const groups = ip.includes('::')
    ? [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** A verified caller, counted under its own budget. */
export type VerifiedCaller =
  | { readonly kind: 'device'; readonly id: string }
  | { readonly kind: 'user'; readonly id: string };

/**
 * The server's rate limits, all in process memory (with N replicas a client gets up to N × the
 * budget). Keys are only ever things the server verified or observed itself, never a value the
 * client chose freely:
 * - a request without a bearer token counts against its client address (`anonymous`);
 * - a request with a token counts against the token's owner (`perToken`, or `perDevice`) only
 *   once the token was verified;
 * - a failed authentication counts against its address (`failedAuth`): past that budget a
 *   failure is answered 429 instead of 401 — the credential is still checked first, so a valid
 *   token from the same address (a device behind the same NAT, an admin) is never refused;
 * - a failed login also counts against its address and username (`failedLogins`): past that,
 *   that username's logins from that address are refused before the password is checked.
 *
 * Own code rather than @fastify/rate-limit: on the idle device check-in that plugin cost ~15 µs
 * per request (several awaits, an LRU, three headers on every answer) — a sixth of the request.
 */
export class RateLimiter {
  readonly #requests: FixedWindowCounter;
  readonly #failures: FixedWindowCounter;

  constructor(
    private readonly limits: ServerConfig['rateLimit'],
    clock: () => number = Date.now,
    maxKeys = RATE_LIMIT_MAX_KEYS,
  ) {
    this.#requests = new FixedWindowCounter(limits.windowMs, clock, maxKeys);
    this.#failures = new FixedWindowCounter(limits.windowMs, clock, maxKeys);
  }

  /** Keys held by the counters (requests + failures); bounded by twice `maxKeys` + 2. */
  get size(): number {
    return this.#requests.size + this.#failures.size;
  }

  /** Counts a request that carries no verified credential; a 429 error when over budget. */
  anonymous(ip: string): ServerError | undefined {
    if (!this.limits.enabled) return undefined;
    return this.#over(this.#requests, `ip:${addressKey(ip)}`, this.limits.anonymous);
  }

  /** Counts a request whose credential was verified; a 429 error when over its budget. */
  verified(caller: VerifiedCaller): ServerError | undefined {
    if (!this.limits.enabled) return undefined;
    return caller.kind === 'device'
      ? this.#over(this.#requests, `dev:${caller.id}`, this.limits.perDevice)
      : this.#over(this.#requests, `tok:${caller.id}`, this.limits.perToken);
  }

  /**
   * Counts a failed authentication from `ip` and returns what to answer: `failure` itself, or a
   * 429 once the address is past its budget.
   */
  failed(ip: string, failure: ServerError): ServerError {
    if (!this.limits.enabled) return failure;
    return this.#over(this.#failures, `ip:${addressKey(ip)}`, this.limits.failedAuth) ?? failure;
  }

  /** A 429 error when `username` failed to log in from `ip` too often this window; checked before the password. */
  loginRefused(ip: string, username: string): ServerError | undefined {
    if (!this.limits.enabled) return undefined;
    const count = this.#failures.peek(`login:${addressKey(ip)}:${username}`);
    return count >= this.limits.failedLogins
      ? this.#refusal(this.#failures, this.limits.failedLogins)
      : undefined;
  }

  /** Counts a failed login (per address and username, and per address); returns what to answer. */
  loginFailed(ip: string, username: string, failure: ServerError): ServerError {
    if (!this.limits.enabled) return failure;
    this.#failures.hit(`login:${addressKey(ip)}:${username}`);
    return this.failed(ip, failure);
  }

  #over(counter: FixedWindowCounter, key: string, max: number): ServerError | undefined {
    return counter.hit(key) > max ? this.#refusal(counter, max) : undefined;
  }

  #refusal(counter: FixedWindowCounter, max: number): ServerError {
    const retryAfterSeconds = counter.retryAfterSeconds();
    return new ServerError(
      'HTTP_RATE_LIMITED',
      `Rate limit exceeded; retry in ${retryAfterSeconds} s.`,
      { details: { max, retryAfterSeconds } },
    );
  }
}

/**
 * The first rate limit, before any database lookup: requests without a bearer token (and
 * requests to no route) count against their address. Requests with a token are counted by the
 * access check once the token was verified (see access-control.ts).
 */
export function installRateLimits(app: FastifyInstance, limiter: RateLimiter): void {
  // Callback style: this runs on every request, and a promise per hook shows.
  app.addHook('onRequest', (request, _reply, done) => {
    // A credential (bearer or session cookie) is counted by its owner once verified.
    if (
      (bearerToken(request.headers) !== undefined || mayCarrySessionCookie(request.headers)) &&
      !request.is404
    )
      return done();
    const refused = limiter.anonymous(request.ip);
    return refused ? done(refused) : done();
  });
}
