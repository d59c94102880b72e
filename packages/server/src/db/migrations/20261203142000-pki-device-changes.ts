import { type Kysely, sql } from 'kysely';
import type { DialectSupport } from '../dialect-support.js';

/**
 * The device change feed also announces what the PKI decides access by (docs/pki.md, TLS): a
 * device's admission, and the per-tenant `pki_settings` (bearer tokens allowed), so cached device
 * sessions drop at once on every replica. PostgreSQL only; SQLite's feed installs its
 * per-connection triggers itself (db/device-changes.ts).
 */
export async function up(db: Kysely<unknown>, support: DialectSupport): Promise<void> {
  for (const statement of support.pkiChangeTriggerStatements())
    await sql.raw(statement).execute(db);
}
