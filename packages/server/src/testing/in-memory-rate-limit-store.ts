import { RATE_LIMIT_STORE_BATCH, type RateLimitStore } from '../ports/rate-limit-store.js';

/**
 * A {@link RateLimitStore} in a Map, for unit tests: it records every call, can be made to fail
 * (`failing = true`, as an unreachable database) and can hold a call until released (`hold()`),
 * so tests can hit a counter while its sync is under way.
 */
export class InMemoryRateLimitStore implements RateLimitStore {
  readonly counts = new Map<string, number>();
  readonly calls: { window: string; keys: string[] }[] = [];
  readonly deletes: string[] = [];
  failing = false;
  #held: Promise<void> | undefined;

  /** Holds the next calls until the returned function is called. */
  hold(): () => void {
    let release = () => {};
    this.#held = new Promise<void>((resolve) => {
      release = resolve;
    });
    return () => {
      this.#held = undefined;
      release();
    };
  }

  /** The shared count of `key` in the window starting at `window`. */
  count(window: string, key: string): number {
    return this.counts.get(`${window} ${key}`) ?? 0;
  }

  async add(
    window: string,
    increments: readonly (readonly [key: string, hits: number])[],
  ): Promise<Map<string, number>> {
    if (increments.length > RATE_LIMIT_STORE_BATCH) throw new RangeError('batch too large');
    this.calls.push({ window, keys: increments.map(([key]) => key) });
    await this.#held;
    if (this.failing) throw new Error('store unreachable');
    const totals = new Map<string, number>();
    for (const [key, hits] of increments) {
      const total = this.count(window, key) + hits;
      this.counts.set(`${window} ${key}`, total);
      totals.set(key, total);
    }
    return totals;
  }

  async deleteBefore(window: string): Promise<number> {
    await this.#held;
    if (this.failing) throw new Error('store unreachable');
    this.deletes.push(window);
    let deleted = 0;
    for (const key of [...this.counts.keys()]) {
      if (key.split(' ')[0]! < window) {
        this.counts.delete(key);
        deleted++;
      }
    }
    return deleted;
  }
}
