import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDatabase } from '../../db/create-database.js';
import { RATE_LIMIT_STORE_BATCH } from '../../ports/rate-limit-store.js';
import {
  describeEachDialect,
  openTestDatabase,
  type TestDatabase,
} from '../../testing/test-database.js';
import { DatabaseRateLimitStore } from './database-rate-limit-store.js';

const W1 = '2026-12-03T18:00:00.000Z';
const W2 = '2026-12-03T18:01:00.000Z';

describeEachDialect('DatabaseRateLimitStore', (dialect) => {
  let t: TestDatabase;
  let store: DatabaseRateLimitStore;
  beforeAll(async () => {
    t = await openTestDatabase(dialect);
    store = new DatabaseRateLimitStore(t.handle.db, t.handle.support);
  });
  afterAll(() => t?.dispose());

  it('adds to the counts of a window and answers each key’s total', async () => {
    expect(
      await store.add(W1, [
        ['r:a', 3],
        ['r:b', 1],
      ]),
    ).toEqual(
      new Map([
        ['r:a', 3],
        ['r:b', 1],
      ]),
    );
    expect(
      await store.add(W1, [
        ['r:a', 2],
        ['r:c', 5],
      ]),
    ).toEqual(
      new Map([
        ['r:a', 5],
        ['r:c', 5],
      ]),
    );
    // Another window is another count; a negative number gives hits back.
    expect(await store.add(W2, [['r:a', 1]])).toEqual(new Map([['r:a', 1]]));
    expect(await store.add(W1, [['r:a', -1]])).toEqual(new Map([['r:a', 4]]));
    expect(await store.add(W1, [])).toEqual(new Map());
  });

  it('loses no increment when several writers add to the same keys at once', async () => {
    // A second handle on the same database: its own connection(s), as another replica.
    const other = await createDatabase(t.config);
    try {
      const stores = [store, new DatabaseRateLimitStore(other.db, other.support)];
      const keys = Array.from({ length: 50 }, (_, i) => `r:ip:10.0.0.${i}`).sort();
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          stores[i % 2]!.add(
            W1,
            keys.map((k) => [k, 1] as const),
          ),
        ),
      );
      const totals = await store.add(
        W1,
        keys.map((k) => [k, 0] as const),
      );
      expect([...totals.values()]).toEqual(Array(50).fill(20));
    } finally {
      await other.close();
    }
  });

  it('refuses a batch larger than one statement may carry', async () => {
    const rows = Array.from(
      { length: RATE_LIMIT_STORE_BATCH + 1 },
      (_, i) => [`k${i}`, 1] as const,
    );
    await expect(store.add(W1, rows)).rejects.toThrow(RangeError);
    // A full batch goes through in one statement.
    const totals = await store.add(W1, rows.slice(0, RATE_LIMIT_STORE_BATCH));
    expect(totals.size).toBe(RATE_LIMIT_STORE_BATCH);
  });

  it('deletes past windows only', async () => {
    await store.add(W2, [['r:z', 1]]);
    expect(await store.deleteBefore(W2)).toBeGreaterThan(0);
    const left = await t.handle.db
      .selectFrom('rate_limit_counts')
      .select('window_start')
      .distinct()
      .execute();
    expect(left.map((r) => r.window_start)).toEqual([W2]);
    expect(await store.deleteBefore(W2)).toBe(0);
  });

  it('keeps the counts in an UNLOGGED table where the backend has them', async () => {
    if (!t.handle.support.supportsUnloggedTables) return;
    const { rows } = await sql<{ relpersistence: string }>`
      select relpersistence from pg_class
      where oid = to_regclass(${`${t.config.schema}.rate_limit_counts`})`.execute(t.handle.db);
    expect(rows).toEqual([{ relpersistence: 'u' }]);
  });
});
