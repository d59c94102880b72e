import { RATE_LIMIT_STORE_BATCH, type RateLimitStore } from '../ports/rate-limit-store.js';
import { OVERFLOW_KEY, RATE_LIMIT_MAX_KEYS, type WindowCounter } from './window-counter.js';

/** One key of this window as this replica knows it. */
interface Entry {
  /** The key in the shared store (namespace + key). */
  readonly stored: string;
  /** The shared count learnt at the last sync (every replica's hits, this one's included). */
  shared: number;
  /** This replica's hits not yet in `shared` (the ones in flight included). */
  unsynced: number;
  /** The part of `unsynced` in the statement under way. */
  sending: number;
  /** Listed for the next sync. */
  dirty: boolean;
}

/**
 * A {@link WindowCounter} whose counts every replica shares through a {@link RateLimitStore}.
 * A hit stays O(1) and in memory: it decides on the shared count learnt at the last sync plus
 * this replica's hits since, and {@link sync} (every `rateLimit.syncIntervalMs`) adds those hits
 * to the store and learns the new totals of the same keys. So a client can exceed a budget by
 * what it sends to each replica between two syncs (docs/deployment.md, "Rate limits across replicas").
 *
 * Memory stays bounded as in the in-process counter: `maxKeys` keys per window, further new
 * keys share the overflow key (itself shared across replicas), all dropped when the window turns.
 */
export class SharedWindowCounter implements WindowCounter {
  #entries = new Map<string, Entry>();
  #dirty: Entry[] = [];
  #windowStart = Number.NaN;
  #windowEnd = 0;

  /**
   * @param namespace prefix of this counter's keys in the store (counters share one table).
   */
  constructor(
    private readonly namespace: string,
    private readonly store: RateLimitStore,
    private readonly windowMs: number,
    private readonly clock: () => number = Date.now,
    private readonly maxKeys = RATE_LIMIT_MAX_KEYS,
  ) {}

  hit(key: string): number {
    this.#turn();
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      const counted = this.#entries.size >= this.maxKeys ? OVERFLOW_KEY : key;
      entry = this.#entries.get(counted);
      if (entry === undefined) {
        entry = {
          stored: this.namespace + counted,
          shared: 0,
          unsynced: 0,
          sending: 0,
          dirty: false,
        };
        this.#entries.set(counted, entry);
      }
    }
    entry.unsynced++;
    if (!entry.dirty) {
      entry.dirty = true;
      this.#dirty.push(entry);
    }
    return entry.shared + entry.unsynced;
  }

  peek(key: string): number {
    this.#turn();
    const entry =
      this.#entries.get(key) ??
      (this.#entries.size >= this.maxKeys ? this.#entries.get(OVERFLOW_KEY) : undefined);
    return entry === undefined ? 0 : entry.shared + entry.unsynced;
  }

  get size(): number {
    this.#turn();
    return this.#entries.size;
  }

  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil((this.#windowEnd - this.clock()) / 1000));
  }

  /**
   * Adds this window's unsynced hits to the store, {@link RATE_LIMIT_STORE_BATCH} keys per
   * statement, keys sorted (replicas lock shared rows in one order), and learns each key's
   * total. On a failed statement its hits and the rest stay unsynced (sent again next time) and
   * the error is thrown; the local counts keep deciding meanwhile. Never run two at once.
   * Returns the number of keys sent.
   */
  async sync(): Promise<number> {
    this.#turn();
    const windowStart = this.#windowStart;
    const batch = this.#dirty;
    if (batch.length === 0) return 0;
    this.#dirty = [];
    batch.sort((a, b) => (a.stored < b.stored ? -1 : a.stored > b.stored ? 1 : 0));
    for (const entry of batch) {
      entry.dirty = false;
      entry.sending = entry.unsynced;
    }
    const window = new Date(windowStart).toISOString();
    let done = 0;
    try {
      while (done < batch.length) {
        const chunk = batch.slice(done, done + RATE_LIMIT_STORE_BATCH);
        const totals = await this.store.add(
          window,
          chunk.map((e) => [e.stored, e.sending] as const),
        );
        done += chunk.length;
        // The window turned meanwhile: these entries were dropped, the rest is not worth sending.
        if (this.#windowStart !== windowStart) return done;
        for (const entry of chunk) {
          entry.shared = totals.get(entry.stored) ?? entry.shared + entry.sending;
          entry.unsynced -= entry.sending;
          entry.sending = 0;
        }
      }
      return done;
    } catch (error) {
      for (const entry of batch.slice(done)) {
        entry.sending = 0;
        if (!entry.dirty && this.#windowStart === windowStart) {
          entry.dirty = true;
          this.#dirty.push(entry);
        }
      }
      throw error;
    }
  }

  #turn(): void {
    const now = this.clock();
    if (now < this.#windowEnd) return;
    this.#entries = new Map();
    this.#dirty = [];
    this.#windowStart = now - (now % this.windowMs);
    this.#windowEnd = this.#windowStart + this.windowMs;
  }
}
