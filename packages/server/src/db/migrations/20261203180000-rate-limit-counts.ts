import { type Kysely, sql } from 'kysely';
import type { DialectSupport } from '../dialect-support.js';

/**
 * Rate-limit counts shared by replicas (http/rate-limit-synchroniser.ts, docs/deployment.md
 * "Rate limits across replicas"). UNLOGGED where the backend has it: the counts are rewritten every few hundred
 * milliseconds and are worth nothing after a crash (a reset only refills budgets for the rest of
 * one window), so they skip the write-ahead log — no WAL traffic, no replication to standbys.
 * Created on every backend so the schema is one; on SQLite the `memory` store never uses it.
 */
export async function up(db: Kysely<unknown>, support: DialectSupport): Promise<void> {
  await db.schema
    .createTable('rate_limit_counts')
    .$call((t) => (support.supportsUnloggedTables ? t.modifyFront(sql`unlogged`) : t))
    .addColumn('window_start', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('count', 'integer', (c) => c.notNull())
    // window_start first: the clean-up deletes whole past windows by a range on it.
    .addPrimaryKeyConstraint('rate_limit_counts_pk', ['window_start', 'key'])
    .execute();
}
