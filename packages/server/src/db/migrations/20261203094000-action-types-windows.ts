import { type Kysely, sql } from 'kysely';

/**
 * Action types (`forced | soft | download-only | time-forced`), the `time-forced` deadline and a
 * recurring maintenance window (JSON `{ cron, durationSeconds, timeZone }`). Existing
 * download-only actions become type `download-only`; every other one `soft` (what they were).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('actions')
    .addColumn('action_type', 'text', (c) => c.notNull().defaultTo('soft'))
    .execute();
  await db.schema.alterTable('actions').addColumn('force_after', 'text').execute();
  await db.schema.alterTable('actions').addColumn('recurring_window', 'text').execute();
  await sql`UPDATE actions SET action_type = 'download-only' WHERE download_only = 1`.execute(db);
}
