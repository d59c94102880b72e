import { type Kysely, sql } from 'kysely';
import type { DialectSupport } from '../dialect-support.js';

/** Triggers that announce device changes to every replica (see db/device-changes.ts). */
export async function up(db: Kysely<unknown>, support: DialectSupport): Promise<void> {
  for (const statement of support.deviceChangeTriggerStatements())
    await sql.raw(statement).execute(db);
}
