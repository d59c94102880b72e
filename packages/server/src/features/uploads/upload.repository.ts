import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from '../../db/database.js';
import type { DialectSupport } from '../../db/dialect-support.js';
import type { UploadSessionTable } from './upload-session.table.js';
import './upload-session.table.js';

type Db = Kysely<Database> | Transaction<Database>;

// Names the critical section "check the upload quota, then open a session" (any fixed integer
// no other lock uses; the ASCII of "upld").
const UPLOAD_QUOTA_LOCK = 0x75706c64;

/**
 * Serialises session creation across every replica until `trx` ends, so the quota check and the
 * insert cannot interleave with another's. The quota spans the whole server (staged bytes of
 * every tenant), hence one lock rather than a tenant's row. SQLite's single writer already runs
 * write transactions one at a time.
 */
export async function lockUploadQuota(
  trx: Transaction<Database>,
  support: Pick<DialectSupport, 'transactionLockStatement'>,
): Promise<void> {
  const statement = support.transactionLockStatement(UPLOAD_QUOTA_LOCK);
  if (statement !== undefined) await sql.raw(statement).execute(trx);
}

/**
 * The tenant's session `id`, its row locked until `trx` ends (`FOR UPDATE` where writers are
 * concurrent; SQLite's transaction is the lock), so one writer at a time places a chunk and
 * moves the offset, whichever replica it runs on.
 */
export async function lockUploadSession(
  trx: Transaction<Database>,
  support: Pick<DialectSupport, 'supportsConcurrentWriters'>,
  tenantId: string,
  id: string,
): Promise<UploadSessionTable | undefined> {
  return trx
    .selectFrom('upload_sessions')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .$if(support.supportsConcurrentWriters, (q) => q.forUpdate())
    .executeTakeFirst();
}

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

/** Session `id` of whichever tenant (for maintenance, never for a request), or undefined. */
export async function findUploadSessionById(
  db: Db,
  id: string,
): Promise<UploadSessionTable | undefined> {
  return db.selectFrom('upload_sessions').selectAll().where('id', '=', id).executeTakeFirst();
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

/** Deletes session `id` if it is still untouched since `cutoff`; false when it was touched. */
export async function deleteStaleUploadSession(
  db: Db,
  id: string,
  cutoff: string,
): Promise<boolean> {
  const r = await db
    .deleteFrom('upload_sessions')
    .where('id', '=', id)
    .where('updated_at', '<', cutoff)
    .executeTakeFirst();
  return Number(r.numDeletedRows) === 1;
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
