import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import { RATE_LIMIT_STORE_BATCH, type RateLimitStore } from '../../ports/rate-limit-store.js';

/** One shared count (migration 20261203180000; UNLOGGED on PostgreSQL: counts are disposable). */
export interface RateLimitCountTable {
  /** Start of the fixed window, ISO 8601 UTC (sorts as text). */
  window_start: string;
  /** The counter's namespace and key, e.g. `r:ip:192.0.2.7`. */
  key: string;
  count: number;
}

declare module '../../db/database.js' {
  interface Database {
    rate_limit_counts: RateLimitCountTable;
  }
}

/**
 * {@link RateLimitStore} on the service's own database (`rate_limit_counts`). One multi-row
 * upsert per batch: every key's row is locked and bumped in VALUES order, so callers pass keys
 * sorted (two replicas then lock shared keys in the same order and never deadlock).
 */
export class DatabaseRateLimitStore implements RateLimitStore {
  constructor(private readonly db: Kysely<Database>) {}

  async add(
    windowStart: string,
    increments: readonly (readonly [key: string, hits: number])[],
  ): Promise<Map<string, number>> {
    if (increments.length > RATE_LIMIT_STORE_BATCH)
      throw new RangeError(`at most ${RATE_LIMIT_STORE_BATCH} keys per statement`);
    const totals = new Map<string, number>();
    if (increments.length === 0) return totals;
    const rows = await this.db
      .insertInto('rate_limit_counts')
      .values(increments.map(([key, hits]) => ({ window_start: windowStart, key, count: hits })))
      .onConflict((oc) =>
        oc.columns(['window_start', 'key']).doUpdateSet((eb) => ({
          count: eb('rate_limit_counts.count', '+', eb.ref('excluded.count')),
        })),
      )
      .returning(['key', 'count'])
      .execute();
    for (const row of rows) totals.set(row.key, Number(row.count));
    return totals;
  }

  async deleteBefore(windowStart: string): Promise<number> {
    const result = await this.db
      .deleteFrom('rate_limit_counts')
      .where('window_start', '<', windowStart)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
