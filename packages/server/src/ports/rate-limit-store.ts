/**
 * Rate-limit counts shared by every replica: one count per (window, key), where a window is named
 * by its start (ISO 8601 UTC; every replica derives the same fixed windows from its clock).
 *
 * Implementation: `DatabaseRateLimitStore` (src/adapters/database/); the test double
 * `InMemoryRateLimitStore` (src/testing/). Counts are disposable: losing them only resets budgets.
 */
export interface RateLimitStore {
  /**
   * Adds each `[key, hits]` (keys distinct, at most {@link RATE_LIMIT_STORE_BATCH}; `hits` may be
   * negative to give an attempt back) to the counts of `windowStart` in ONE atomic statement, and
   * returns each key's shared count afterwards.
   */
  add(
    windowStart: string,
    increments: readonly (readonly [key: string, hits: number])[],
  ): Promise<Map<string, number>>;
  /** Deletes the counts of every window that started before `windowStart`; returns how many. */
  deleteBefore(windowStart: string): Promise<number>;
}

/** Most keys one {@link RateLimitStore.add} takes (bounds the statement: 3 parameters per key). */
export const RATE_LIMIT_STORE_BATCH = 1_000;
