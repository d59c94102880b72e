import type { Kysely } from 'kysely';

/** Users whose password was generated or set by an admin must change it at their next login. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('users')
    .addColumn('must_change_password', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}
