import type { DeviceChangeFeed } from '../db/device-changes.js';
import type { PrefetchedCheckInState } from './device-authenticator.js';
import type { DevicePrincipal } from './principal.js';

/** What a device credential resolves to: the device and its check-in state. */
export interface DeviceSession {
  readonly principal: DevicePrincipal;
  readonly state: PrefetchedCheckInState;
  /** The tenant forbids bearer tokens (`pki_settings`): the credential is valid but refused. */
  readonly bearerTokensForbidden?: boolean;
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

/** Devices whose latest change generation is remembered (a load lasts milliseconds). */
const TRACKED_CHANGES = 10_000;

/**
 * Device sessions by credential (the bearer token itself: kept in process memory only, never
 * logged; a hit then costs no hashing), so an idle check-in needs no database round trip. Kept
 * exact by the {@link DeviceChangeFeed}: every change of a device's credentials, open action or
 * stored report drops its session, on every replica. Never trusted while the feed is not live.
 *
 * A load races with changes: callers take {@link generation} before reading the database and
 * pass it to {@link store}, which keeps nothing if a change of that device arrived in between (the
 * row may have been read before or after it). The latest changes are remembered per device (a
 * bounded map); a load older than anything forgotten, or than a flush, is refused outright.
 */
export class DeviceSessionCache {
  readonly #entries = new Map<string, Entry>();
  /** The credentials cached per device: one string (nearly every device), a set beyond that. */
  readonly #tokensOfDevice = new Map<string, string | Set<string>>();
  readonly #clock: () => number;
  #generation = 0;
  /** Generation of each device's latest change, for the latest {@link TRACKED_CHANGES} devices. */
  readonly #changedAt = new Map<string, number>();
  /** A load that started before this generation is refused (a flush, or a forgotten change). */
  #floor = 0;
  /** Lookups answered from the cache / not (for /metrics). */
  hits = 0;
  misses = 0;

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

  /** True while the feed is live (what is cached can be trusted). */
  get live(): boolean {
    return this.feed.live;
  }

  /** The cached session for a credential, or `undefined` (then read the database). */
  get(credential: string): DeviceSession | undefined {
    const entry = this.#entries.get(credential);
    if (entry === undefined) {
      this.misses++;
      return undefined;
    }
    if (!this.feed.live || this.#clock() - entry.loadedAt > this.options.maxAgeMs) {
      this.#drop(credential, entry);
      this.misses++;
      return undefined;
    }
    this.hits++;
    return entry.session;
  }

  /** Keeps a session read from the database, unless its device changed since `generation`. */
  store(credential: string, session: DeviceSession, generation: number): void {
    if (!this.feed.live || this.options.maxEntries <= 0) return;
    const key = deviceKey(session.principal.tenantId, session.principal.deviceId);
    if (generation !== this.#generation) {
      if (generation < this.#floor || (this.#changedAt.get(key) ?? 0) > generation) return;
    }
    const existing = this.#entries.get(credential);
    if (existing !== undefined) this.#drop(credential, existing);
    if (this.#entries.size >= this.options.maxEntries) {
      const [oldestKey, oldest] = this.#entries.entries().next().value as [string, Entry];
      this.#drop(oldestKey, oldest);
    }
    this.#entries.set(credential, { session, deviceKey: key, loadedAt: this.#clock() });
    const tokens = this.#tokensOfDevice.get(key);
    if (tokens === undefined) this.#tokensOfDevice.set(key, credential);
    else if (typeof tokens === 'string')
      this.#tokensOfDevice.set(key, new Set([tokens, credential]));
    else tokens.add(credential);
  }

  /** Drops every session of one device. */
  invalidate(tenantId: string, deviceId: string): void {
    this.#generation++;
    const key = deviceKey(tenantId, deviceId);
    this.#changedAt.delete(key); // re-inserted last: the map stays in generation order
    this.#changedAt.set(key, this.#generation);
    if (this.#changedAt.size > TRACKED_CHANGES) {
      const [oldestKey, oldestGeneration] = this.#changedAt.entries().next().value as [
        string,
        number,
      ];
      this.#changedAt.delete(oldestKey);
      this.#floor = Math.max(this.#floor, oldestGeneration);
    }
    const tokens = this.#tokensOfDevice.get(key);
    if (tokens === undefined) return;
    if (typeof tokens === 'string') this.#entries.delete(tokens);
    else for (const token of tokens) this.#entries.delete(token);
    this.#tokensOfDevice.delete(key);
  }

  /** Drops everything. */
  clear(): void {
    this.#generation++;
    this.#floor = this.#generation;
    this.#changedAt.clear();
    this.#entries.clear();
    this.#tokensOfDevice.clear();
  }

  #drop(credential: string, entry: Entry): void {
    this.#entries.delete(credential);
    const tokens = this.#tokensOfDevice.get(entry.deviceKey);
    if (tokens === credential) this.#tokensOfDevice.delete(entry.deviceKey);
    else if (typeof tokens === 'object') {
      tokens.delete(credential);
      if (tokens.size === 1)
        this.#tokensOfDevice.set(entry.deviceKey, tokens.values().next().value!);
    }
  }
}
