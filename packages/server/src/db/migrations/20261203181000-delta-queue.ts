import type { Kysely } from 'kysely';

/**
 * The `deltas` table becomes the encoder's job queue shared by replicas (docs/delta-format.md,
 * "Delivery"): a replica claims a `queued` row, or a `building` row whose lease passed, and holds
 * it while it encodes. `lease_until` (ISO time) is renewed while the encoding runs; `claimed_by`
 * names the replica; `attempts` counts claims, so a patch that kills its encoder ends `failed`.
 * Rows left `building` by an earlier version have no lease and are claimed again.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('deltas').addColumn('lease_until', 'text').execute();
  await db.schema.alterTable('deltas').addColumn('claimed_by', 'text').execute();
  await db.schema
    .alterTable('deltas')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  // The claim (oldest claimable row) and the queue bound (count of `queued`) read this index.
  await db.schema
    .createIndex('deltas_claim')
    .on('deltas')
    .columns(['state', 'created_at'])
    .execute();
}
