import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';

/** The tenant every resource belongs to in embedded (single-tenant) mode. */
export const DEFAULT_TENANT_ID = 'ten_default';

/** Creates a tenant if missing; returns its id. */
export async function ensureTenant(
  db: Kysely<Database>,
  id: string,
  name: string,
  now: string,
): Promise<string> {
  await db
    .insertInto('tenants')
    .values({ id, name, created_at: now })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
  return id;
}
