import type { DeviceChangeFeed } from '../db/device-changes.js';
import type { PrefetchedCheckInState } from './device-authenticator.js';
import type { DevicePrincipal } from './principal.js';

/** What a device credential resolves to: the device and its check-in state. */
export interface DeviceSession {
  readonly principal: DevicePrincipal;
  readonly state: PrefetchedCheckInState;
}

export interface DeviceSessionCacheOptions {
  /** Most sessions kept (oldest loaded go first); 0 disables the cache. */
  readonly maxEntries: number;
  /** A session older than this is read again (bounds changes made behind the feed's back). */
  readonly maxAgeMs: number;
  /** Monotonic milliseconds (tests drive it). */
  readonly clock?: () => number;
}

interface Entry {
  readonly session: DeviceSession;
  readonly deviceKey: string;
  readonly loadedAt: number;
}

const deviceKey = (tenantId: string, deviceId: string) => `${tenantId}\u0000${deviceId}`;

/**
 * Device sessions by credential (the bearer token itself: kept in process memory only, never
 * logged; a hit then costs no hashing), so an idle check-in needs no database round trip. Kept
 * exact by the {@link DeviceChangeFeed}: every change of a device's credentials, open action or
 * stored report drops its session, on every replica. Never trusted while the feed is not live.
 *
 * A load races with changes: callers take {@link generation} before reading the database and
 * pass it to {@link store}, which keeps nothing if any change arrived in between (it may have
 * been read before or after that change).
 */
export class DeviceSessionCache {
  readonly #entries = new Map<string, Entry>();
  readonly #tokensOfDevice = new Map<string, Set<string>>();
  readonly #clock: () => number;
  #generation = 0;

  constructor(
    private readonly feed: DeviceChangeFeed,
    private readonly options: DeviceSessionCacheOptions,
  ) {
    this.#clock = options.clock ?? (() => performance.now());
    feed.subscribe((change) => {
      if (change === null) this.clear();
      else this.invalidate(change.tenantId, change.deviceId);
    });
  }

  /** Bumped by every change; see {@link store}. */
  get generation(): number {
    return this.#generation;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The cached session for a credential, or `undefined` (then read the database). */
  get(credential: string): DeviceSession | undefined {
    const entry = this.#entries.get(credential);
    if (entry === undefined) return undefined;
    if (!this.feed.live || this.#clock() - entry.loadedAt > this.options.maxAgeMs) {
      this.#drop(credential, entry);
      return undefined;
    }
    return entry.session;
  }

  /** Keeps a session read from the database, unless a change arrived since `generation`. */
  store(credential: string, session: DeviceSession, generation: number): void {
    if (generation !== this.#generation || !this.feed.live || this.options.maxEntries <= 0) return;
    const existing = this.#entries.get(credential);
    if (existing !== undefined) this.#drop(credential, existing);
    if (this.#entries.size >= this.options.maxEntries) {
      const [oldestKey, oldest] = this.#entries.entries().next().value as [string, Entry];
      this.#drop(oldestKey, oldest);
    }
    const key = deviceKey(session.principal.tenantId, session.principal.deviceId);
    this.#entries.set(credential, { session, deviceKey: key, loadedAt: this.#clock() });
    let tokens = this.#tokensOfDevice.get(key);
    if (tokens === undefined) {
      tokens = new Set();
      this.#tokensOfDevice.set(key, tokens);
    }
    tokens.add(credential);
  }

  /** Drops every session of one device. */
  invalidate(tenantId: string, deviceId: string): void {
    this.#generation++;
    const key = deviceKey(tenantId, deviceId);
    const tokens = this.#tokensOfDevice.get(key);
    if (tokens === undefined) return;
    for (const token of tokens) this.#entries.delete(token);
    this.#tokensOfDevice.delete(key);
  }

  /** Drops everything. */
  clear(): void {
    this.#generation++;
    this.#entries.clear();
    this.#tokensOfDevice.clear();
  }

  #drop(credential: string, entry: Entry): void {
    this.#entries.delete(credential);
    const tokens = this.#tokensOfDevice.get(entry.deviceKey);
    tokens?.delete(credential);
    if (tokens?.size === 0) this.#tokensOfDevice.delete(entry.deviceKey);
  }
}
