import { type Kysely, sql } from 'kysely';
import { markHotStatement } from '../../db/create-database.js';
import type { Database } from '../../db/database.js';
import type { DialectSupport } from '../../db/dialect-support.js';
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

type Increments = readonly (readonly [key: string, hits: number])[];

/** The upsert with the batch as three array parameters (one text for every batch size). */
const addArrays = (window: string, keys: readonly string[], hits: readonly number[]) =>
  sql<{ key: string; count: number }>`insert into rate_limit_counts (window_start, key, count)
select ${window}, t.key, t.hits from unnest(${keys}::text[], ${hits}::integer[]) as t(key, hits)
on conflict (window_start, key) do update set count = rate_limit_counts.count + excluded.count
returning key, count`;

/**
 * {@link RateLimitStore} on the service's own database (`rate_limit_counts`). One upsert per
 * batch; every key's row is locked and bumped in the order given, so callers pass keys sorted
 * (two replicas then lock shared keys in the same order and never deadlock). Where parameters
 * may be arrays the batch travels as two arrays in one prepared statement (Kysely compiling a
 * 1,000-row VALUES list cost ~5 µs per key, the whole of a sync's CPU); elsewhere as a
 * multi-row VALUES list.
 */
export class DatabaseRateLimitStore implements RateLimitStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly support: Pick<DialectSupport, 'supportsArrayParameters'>,
  ) {
    if (support.supportsArrayParameters) markHotStatement(addArrays('', [], []).compile(db).sql);
  }

  async add(windowStart: string, increments: Increments): Promise<Map<string, number>> {
    if (increments.length > RATE_LIMIT_STORE_BATCH)
      throw new RangeError(`at most ${RATE_LIMIT_STORE_BATCH} keys per statement`);
    const totals = new Map<string, number>();
    if (increments.length === 0) return totals;
    const rows = this.support.supportsArrayParameters
      ? (
          await addArrays(
            windowStart,
            increments.map(([key]) => key),
            increments.map(([, hits]) => hits),
          ).execute(this.db)
        ).rows
      : await this.#addValues(windowStart, increments);
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

  #addValues(windowStart: string, increments: Increments) {
    return this.db
      .insertInto('rate_limit_counts')
      .values(increments.map(([key, hits]) => ({ window_start: windowStart, key, count: hits })))
      .onConflict((oc) =>
        oc.columns(['window_start', 'key']).doUpdateSet((eb) => ({
          count: eb('rate_limit_counts.count', '+', eb.ref('excluded.count')),
        })),
      )
      .returning(['key', 'count'])
      .execute();
  }
}
