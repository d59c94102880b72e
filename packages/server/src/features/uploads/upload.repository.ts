import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../../db/database.js';
import type { UploadSessionTable } from './upload-session.table.js';
import './upload-session.table.js';

type Db = Kysely<Database> | Transaction<Database>;

/** Inserts a session row. */
export async function insertUploadSession(db: Db, row: UploadSessionTable): Promise<void> {
  await db.insertInto('upload_sessions').values(row).execute();
}

/** The tenant's session `id`, or undefined. */
export async function findUploadSession(
  db: Db,
  tenantId: string,
  id: string,
): Promise<UploadSessionTable | undefined> {
  return db
    .selectFrom('upload_sessions')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .executeTakeFirst();
}

/** Open sessions of one user, and bytes declared by every open session of the server. */
export async function uploadUsage(
  db: Db,
  tenantId: string,
  userId: string,
): Promise<{ userSessions: number; stagedBytes: number }> {
  const mine = await db
    .selectFrom('upload_sessions')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('tenant_id', '=', tenantId)
    .where('created_by', '=', userId)
    .executeTakeFirstOrThrow();
  const all = await db
    .selectFrom('upload_sessions')
    .select((eb) => eb.fn.sum<number | string | null>('size').as('bytes'))
    .executeTakeFirstOrThrow();
  return { userSessions: Number(mine.n), stagedBytes: Number(all.bytes ?? 0) };
}

/**
 * Moves a session's acknowledged offset from `from` to `to`; false when another writer moved
 * it first (conditional on the old offset, so no chunk is counted twice).
 */
export async function advanceUploadOffset(
  db: Db,
  tenantId: string,
  id: string,
  from: number,
  to: number,
  at: string,
): Promise<boolean> {
  const r = await db
    .updateTable('upload_sessions')
    .set({ received: to, updated_at: at })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .where('received', '=', from)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** Deletes the tenant's session rows `ids`; returns how many went. */
export async function deleteUploadSessions(
  db: Db,
  tenantId: string,
  ids: readonly string[],
): Promise<number> {
  if (ids.length === 0) return 0;
  const r = await db
    .deleteFrom('upload_sessions')
    .where('tenant_id', '=', tenantId)
    .where('id', 'in', [...ids])
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}

/** Ids of sessions untouched since `cutoff`. */
export async function staleUploadSessionIds(db: Db, cutoff: string): Promise<string[]> {
  const rows = await db
    .selectFrom('upload_sessions')
    .select('id')
    .where('updated_at', '<', cutoff)
    .execute();
  return rows.map((r) => r.id);
}

/** Deletes session `id` if it is still untouched since `cutoff`. */
export async function deleteStaleUploadSession(db: Db, id: string, cutoff: string): Promise<void> {
  await db
    .deleteFrom('upload_sessions')
    .where('id', '=', id)
    .where('updated_at', '<', cutoff)
    .execute();
}

/** Which of `ids` name a session row. */
export async function existingUploadSessionIds(
  db: Db,
  ids: readonly string[],
): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db
    .selectFrom('upload_sessions')
    .select('id')
    .where('id', 'in', [...ids])
    .execute();
  return new Set(rows.map((r) => r.id));
}
