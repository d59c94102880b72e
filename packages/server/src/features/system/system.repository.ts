import { type Kysely, sql } from 'kysely';
import type { Database } from '../../db/database.js';

/** Runs the cheapest query there is: resolves when the database answers, rejects otherwise. */
export async function pingDatabase(db: Kysely<Database>): Promise<void> {
  await sql`select 1`.execute(db);
}
