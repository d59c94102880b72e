import { type Kysely, sql } from 'kysely';
import type { Database } from '../../db/database.js';
import type { DialectSupport } from '../../db/dialect-support.js';
import type { DeltaKey } from './delta.repository.js';
import type { DeltaState } from './delta.table.js';
import './delta.table.js';

/** A job one replica holds: the patch's key, its claim (owner and attempt) and target size. */
export interface DeltaClaim extends DeltaKey {
  /** The replica that holds it. */
  readonly owner: string;
  /** The attempt this claim is (with `owner`, the claim's token: a later claim has another). */
  readonly attempt: number;
  readonly targetSize: number;
}

/** The error code of a job given up after `maxAttempts` claims that never finished. */
export const DELTA_ATTEMPTS_EXHAUSTED = 'DELTA_ATTEMPTS_EXHAUSTED';

/**
 * Records the patch `key` as queued unless a record exists or `maxQueued` patches already wait
 * (one statement, so the bound holds across replicas up to their concurrent inserts). Answers
 * true when this call created the record.
 */
export async function insertQueuedDelta(
  db: Kysely<Database>,
  key: DeltaKey,
  targetSize: number,
  at: string,
  maxQueued: number,
): Promise<boolean> {
  // Typed casts: PostgreSQL cannot infer parameter types in a SELECT list without a table.
  const { rows } = await sql<{ tenant_id: string }>`
    INSERT INTO deltas (tenant_id, base_digest, target_digest, state, target_size, created_at,
      updated_at, attempts)
    SELECT CAST(${key.tenantId} AS text), CAST(${key.baseDigest} AS text),
      CAST(${key.targetDigest} AS text), 'queued', CAST(${targetSize} AS bigint),
      CAST(${at} AS text), CAST(${at} AS text), 0
    WHERE (SELECT COUNT(*) FROM deltas WHERE state = 'queued') < ${maxQueued}
    ON CONFLICT (tenant_id, base_digest, target_digest) DO NOTHING
    RETURNING tenant_id`.execute(db);
  return rows.length === 1;
}

/** How many patches wait for an encoder (every tenant; the queue bound). */
export async function countQueuedDeltas(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom('deltas')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('state', '=', 'queued')
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Gives up the jobs whose lease lapsed after `maxAttempts` claims (each replica that took them
 * died or hung): `failed` with {@link DELTA_ATTEMPTS_EXHAUSTED}. Answers how many.
 */
export async function failExhaustedDeltas(
  db: Kysely<Database>,
  now: string,
  maxAttempts: number,
): Promise<number> {
  const r = await db
    .updateTable('deltas')
    .set({
      state: 'failed',
      error_code: DELTA_ATTEMPTS_EXHAUSTED,
      lease_until: null,
      claimed_by: null,
      updated_at: now,
    })
    .where('state', '=', 'building')
    .where('attempts', '>=', maxAttempts)
    .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
    .executeTakeFirst();
  return Number(r.numUpdatedRows);
}

/**
 * Claims the oldest job, `queued` or `building` with a lapsed lease (and fewer than `maxAttempts`
 * claims), for `owner` until `leaseUntil`. On PostgreSQL the row is picked with FOR UPDATE SKIP
 * LOCKED, so replicas claiming at once get different jobs (or none); SQLite has one writer, which
 * serialises claims. Answers undefined when nothing is claimable.
 */
export async function claimDelta(
  db: Kysely<Database>,
  support: DialectSupport,
  claim: { owner: string; now: string; leaseUntil: string; maxAttempts: number },
): Promise<DeltaClaim | undefined> {
  const { owner, now, leaseUntil, maxAttempts } = claim;
  const lock = support.supportsSkipLocked ? sql`FOR UPDATE SKIP LOCKED` : sql``;
  const { rows } = await sql<{
    tenant_id: string;
    base_digest: string;
    target_digest: string;
    target_size: number | string;
    attempts: number | string;
  }>`
    UPDATE deltas
    SET state = 'building', lease_until = ${leaseUntil}, claimed_by = ${owner},
      attempts = attempts + 1, updated_at = ${now}
    WHERE (tenant_id, base_digest, target_digest) IN (
      SELECT tenant_id, base_digest, target_digest FROM deltas
      WHERE attempts < ${maxAttempts}
        AND (state = 'queued'
          OR (state = 'building' AND (lease_until IS NULL OR lease_until < ${now})))
      ORDER BY created_at
      LIMIT 1
      ${lock})
    RETURNING tenant_id, base_digest, target_digest, target_size, attempts`.execute(db);
  const row = rows[0];
  return (
    row && {
      tenantId: row.tenant_id,
      baseDigest: row.base_digest,
      targetDigest: row.target_digest,
      targetSize: Number(row.target_size),
      owner,
      attempt: Number(row.attempts),
    }
  );
}

/** Narrows an update to the row `claim` still holds (a later claim of the job has another token). */
function held(db: Kysely<Database>, claim: DeltaClaim) {
  return db
    .updateTable('deltas')
    .where('tenant_id', '=', claim.tenantId)
    .where('base_digest', '=', claim.baseDigest)
    .where('target_digest', '=', claim.targetDigest)
    .where('state', '=', 'building')
    .where('claimed_by', '=', claim.owner)
    .where('attempts', '=', claim.attempt);
}

/** Extends the lease of a job this claim still holds; false when it lost the job. */
export async function renewDeltaLease(
  db: Kysely<Database>,
  claim: DeltaClaim,
  leaseUntil: string,
): Promise<boolean> {
  const r = await held(db, claim).set({ lease_until: leaseUntil }).executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/**
 * Writes a job's outcome if `claim` still holds it, ending its lease; false (nothing written)
 * when another replica has taken the job since.
 */
export async function finishDelta(
  db: Kysely<Database>,
  claim: DeltaClaim,
  outcome: {
    state: Extract<DeltaState, 'ready' | 'not_smaller' | 'failed'>;
    patchDigest?: string | null;
    patchSize?: number | null;
    errorCode?: string | null;
  },
  at: string,
): Promise<boolean> {
  const r = await held(db, claim)
    .set({
      state: outcome.state,
      patch_digest: outcome.patchDigest ?? null,
      patch_size: outcome.patchSize ?? null,
      error_code: outcome.errorCode ?? null,
      lease_until: null,
      claimed_by: null,
      updated_at: at,
    })
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/**
 * Gives a job back (graceful stop): `queued` again with no lease, and the claim not counted as
 * an attempt, so another replica takes it at once. False when the claim no longer held it.
 */
export async function releaseDelta(
  db: Kysely<Database>,
  claim: DeltaClaim,
  at: string,
): Promise<boolean> {
  const r = await held(db, claim)
    .set((eb) => ({
      state: 'queued',
      lease_until: null,
      claimed_by: null,
      attempts: eb('attempts', '-', 1),
      updated_at: at,
    }))
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}
