import { isIPv6 } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { bearerToken } from '../auth/device-authenticator.js';
import type { ServerConfig } from '../config/config.js';
import { ServerError } from '../errors.js';
import type { RateLimitStore } from '../ports/rate-limit-store.js';
import { mayCarrySessionCookie } from './browser-session.js';
import {
  RateLimitSynchroniser,
  type RateLimitSyncStats,
  type SyncLogger,
} from './rate-limit-synchroniser.js';
import { SharedWindowCounter } from './shared-window-counter.js';
import { OVERFLOW_KEY, RATE_LIMIT_MAX_KEYS, type WindowCounter } from './window-counter.js';

export { RATE_LIMIT_MAX_KEYS };

/**
 * Fixed-window counters: every key's count resets when the window turns (all at once, so the map
 * is simply dropped and memory stays bounded by the keys seen in one window). A burst of up to
 * twice the budget across a window boundary is possible; that is the price of O(1) per request.
 */
export class FixedWindowCounter implements WindowCounter {
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

  /** The current window, by its end (to give a hit back in the window it was counted in). */
  get window(): number {
    this.#turn();
    return this.#windowEnd;
  }

  /** Gives back one hit of `key` counted in `window` (nothing once that window has turned). */
  unhit(key: string, window: number): void {
    this.#turn();
    if (window !== this.#windowEnd) return;
    const counted = this.#counts.has(key) ? key : OVERFLOW_KEY;
    const count = this.#counts.get(counted);
    if (count !== undefined && count > 0) this.#counts.set(counted, count - 1);
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

/** A login attempt holding one of its username's attempts from its address (see {@link RateLimiter.loginAttempt}). */
export interface LoginAttempt {
  /** The password was right: the held attempt is given back. */
  succeeded(): Promise<void>;
  /** The password was wrong: the attempt stays counted, and counts as a failed authentication of the address; returns what to answer. */
  failed(failure: ServerError): ServerError;
}

/** Shares the counts with the other replicas (`rateLimit.store` = database). */
export interface SharedRateLimits {
  readonly store: RateLimitStore;
  readonly logger: SyncLogger;
}

const NO_LIMIT: LoginAttempt = {
  succeeded: () => Promise.resolve(),
  failed: (failure) => failure,
};

/**
 * The server's rate limits. Keys are only ever things the server verified or observed itself,
 * never a value the client chose freely:
 * - a request without a bearer token counts against its client address (`anonymous`);
 * - a request with a token counts against the token's owner (`perToken`, or `perDevice`) only
 *   once the token was verified;
 * - a failed authentication counts against its address (`failedAuth`): past that budget a
 *   failure is answered 429 instead of 401 — the credential is still checked first, so a valid
 *   token from the same address (a device behind the same NAT, an admin) is never refused;
 * - a failed login also counts against its address and username (`failedLogins`): past that,
 *   that username's logins from that address are refused before the password is checked.
 *
 * Where the counts live (`rateLimit.store`): in process memory (one replica), or shared by every
 * replica (`shared`): request and failure counts still decide in memory, O(1), on the totals a
 * {@link RateLimitSynchroniser} learns every `syncIntervalMs` (a client may exceed a budget by
 * about one interval of its traffic per replica); login attempts, few and worth guessing, are
 * counted in the shared store itself before the password is checked, so their budget is exact
 * across replicas.
 *
 * Own code rather than @fastify/rate-limit: on the idle device check-in that plugin cost ~15 µs
 * per request (several awaits, an LRU, three headers on every answer) — a sixth of the request.
 */
export class RateLimiter {
  readonly #requests: WindowCounter;
  readonly #failures: WindowCounter;
  readonly #logins: FixedWindowCounter;
  readonly #shared: SharedRateLimits | undefined;
  readonly #synchroniser: RateLimitSynchroniser | undefined;

  constructor(
    private readonly limits: ServerConfig['rateLimit'],
    private readonly clock: () => number = Date.now,
    maxKeys = RATE_LIMIT_MAX_KEYS,
    shared?: SharedRateLimits,
  ) {
    this.#shared = shared;
    this.#logins = new FixedWindowCounter(limits.windowMs, clock, maxKeys);
    if (shared === undefined) {
      this.#requests = new FixedWindowCounter(limits.windowMs, clock, maxKeys);
      this.#failures = new FixedWindowCounter(limits.windowMs, clock, maxKeys);
      return;
    }
    const requests = new SharedWindowCounter('r:', shared.store, limits.windowMs, clock, maxKeys);
    const failures = new SharedWindowCounter('f:', shared.store, limits.windowMs, clock, maxKeys);
    this.#requests = requests;
    this.#failures = failures;
    this.#synchroniser = new RateLimitSynchroniser({
      store: shared.store,
      counters: [requests, failures],
      intervalMs: limits.syncIntervalMs,
      windowMs: limits.windowMs,
      clock,
      logger: shared.logger,
    });
  }

  /** Keys held by the counters (requests + failures + logins); bounded by three times `maxKeys` + 3. */
  get size(): number {
    return this.#requests.size + this.#failures.size + this.#logins.size;
  }

  /** True when the counts are shared by every replica (`rateLimit.store`). */
  get shared(): boolean {
    return this.#synchroniser !== undefined;
  }

  /** Passes of the synchroniser (zeros with in-memory counts). */
  get syncStats(): RateLimitSyncStats {
    return this.#synchroniser?.stats ?? { ok: 0, failed: 0 };
  }

  /** Starts sharing the counts (nothing with in-memory counts). */
  start(): void {
    if (this.limits.enabled) this.#synchroniser?.start();
  }

  /** One sync now (tests; nothing with in-memory counts); never rejects. */
  syncNow(): Promise<void> {
    return this.#synchroniser?.syncNow() ?? Promise.resolve();
  }

  /** Stops sharing after sending what is unsynced. Run before the database closes. */
  close(): Promise<void> {
    return this.#synchroniser?.close() ?? Promise.resolve();
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

  /**
   * Before the password is checked: takes one of the `failedLogins` attempts of `username` from
   * `ip` in this window, or throws a 429 error when none is left. Taking (not peeking) makes the
   * budget exact under concurrent guesses, on one replica or several: a right password gives
   * its attempt back ({@link LoginAttempt.succeeded}), a wrong one keeps it counted.
   */
  async loginAttempt(ip: string, username: string): Promise<LoginAttempt> {
    if (!this.limits.enabled) return NO_LIMIT;
    const key = `login:${addressKey(ip)}:${username}`;
    const max = this.limits.failedLogins;
    const failed = (failure: ServerError) => this.failed(ip, failure);
    if (this.#shared === undefined) {
      const window = this.#logins.window;
      if (this.#logins.hit(key) > max) {
        this.#logins.unhit(key, window);
        throw this.#refusal(this.#logins, max);
      }
      return {
        succeeded: async () => this.#logins.unhit(key, window),
        failed,
      };
    }
    const { store } = this.#shared;
    const now = this.clock();
    const windowEnd = now - (now % this.limits.windowMs) + this.limits.windowMs;
    const window = new Date(windowEnd - this.limits.windowMs).toISOString();
    const stored = `l:${key}`;
    const count = (await store.add(window, [[stored, 1]])).get(stored) ?? 0;
    const giveBack = async () => {
      await store.add(window, [[stored, -1]]);
    };
    if (count > max) {
      await giveBack();
      throw this.#rateLimited(max, Math.max(1, Math.ceil((windowEnd - this.clock()) / 1000)));
    }
    return { succeeded: giveBack, failed };
  }

  #over(counter: WindowCounter, key: string, max: number): ServerError | undefined {
    return counter.hit(key) > max ? this.#refusal(counter, max) : undefined;
  }

  #refusal(counter: WindowCounter, max: number): ServerError {
    return this.#rateLimited(max, counter.retryAfterSeconds());
  }

  #rateLimited(max: number, retryAfterSeconds: number): ServerError {
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
