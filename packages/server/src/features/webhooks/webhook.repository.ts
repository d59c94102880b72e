import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../../db/database.js';
import type { DialectSupport } from '../../db/dialect-support.js';
import type { WebhookAttemptTable, WebhookDeliveryTable, WebhookTable } from './webhook.table.js';

type Db = Kysely<Database> | Transaction<Database>;

/** Inserts a subscription. */
export async function insertWebhook(trx: Transaction<Database>, row: WebhookTable): Promise<void> {
  await trx.insertInto('webhooks').values(row).execute();
}

/** The tenant's subscriptions, oldest first. */
export function listWebhooks(db: Db, tenantId: string): Promise<WebhookTable[]> {
  return db
    .selectFrom('webhooks')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

/** How many subscriptions the tenant has. */
export async function countWebhooks(db: Db, tenantId: string): Promise<number> {
  const row = await db
    .selectFrom('webhooks')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** One subscription of the tenant. */
export function findWebhook(
  db: Db,
  tenantId: string,
  id: string,
): Promise<WebhookTable | undefined> {
  return db
    .selectFrom('webhooks')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .executeTakeFirst();
}

/** Deletes a subscription with its deliveries and their attempts; false when there was none. */
export async function deleteWebhook(
  trx: Transaction<Database>,
  tenantId: string,
  id: string,
): Promise<boolean> {
  const deliveries = trx
    .selectFrom('webhook_deliveries')
    .select('id')
    .where('tenant_id', '=', tenantId)
    .where('webhook_id', '=', id);
  await trx.deleteFrom('webhook_attempts').where('delivery_id', 'in', deliveries).execute();
  await trx
    .deleteFrom('webhook_deliveries')
    .where('tenant_id', '=', tenantId)
    .where('webhook_id', '=', id)
    .execute();
  const done = await trx
    .deleteFrom('webhooks')
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .executeTakeFirst();
  return Number(done.numDeletedRows) > 0;
}

/** Inserts outbox rows (in the caller's transaction: the change that caused them). */
export async function insertDeliveries(
  trx: Transaction<Database>,
  rows: readonly WebhookDeliveryTable[],
): Promise<void> {
  if (rows.length > 0)
    await trx
      .insertInto('webhook_deliveries')
      .values([...rows])
      .execute();
}

/** The tenant's private-target setting (false when never set). */
export async function getAllowPrivateTargets(db: Db, tenantId: string): Promise<boolean> {
  const row = await db
    .selectFrom('webhook_settings')
    .select('allow_private_targets')
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  return Number(row?.allow_private_targets ?? 0) === 1;
}

/** Sets the tenant's private-target setting. */
export async function setAllowPrivateTargets(
  trx: Transaction<Database>,
  tenantId: string,
  allow: boolean,
  at: string,
): Promise<void> {
  const value = allow ? 1 : 0;
  await trx
    .insertInto('webhook_settings')
    .values({ tenant_id: tenantId, allow_private_targets: value, updated_at: at })
    .onConflict((oc) =>
      oc.column('tenant_id').doUpdateSet({ allow_private_targets: value, updated_at: at }),
    )
    .execute();
}

/** A claimed delivery with what sending it needs. */
export interface ClaimedDelivery {
  readonly delivery: WebhookDeliveryTable;
  readonly url: string;
  readonly secretBox: string;
  readonly allowPrivate: boolean;
}

/**
 * Claims up to `limit` due pending deliveries for this worker until `lockedUntil`: rows locked
 * by another worker whose lease has not passed are skipped. On PostgreSQL the select takes
 * row locks with SKIP LOCKED, so replicas claiming at once get disjoint rows; SQLite has one
 * writer (one process), and its transaction serialises claims.
 */
export async function claimDueDeliveries(
  db: Kysely<Database>,
  support: DialectSupport,
  now: string,
  lockedUntil: string,
  limit: number,
): Promise<ClaimedDelivery[]> {
  return db.transaction().execute(async (trx) => {
    const due = await trx
      .selectFrom('webhook_deliveries')
      .select('id')
      .where('state', '=', 'pending')
      .where('next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', now)]))
      .orderBy('next_attempt_at')
      .limit(limit)
      .$if(support.supportsSkipLocked, (q) => q.forUpdate().skipLocked())
      .execute();
    if (due.length === 0) return [];
    const ids = due.map((d) => d.id);
    await trx
      .updateTable('webhook_deliveries')
      .set({ locked_until: lockedUntil })
      .where('id', 'in', ids)
      .execute();
    const rows = await trx
      .selectFrom('webhook_deliveries as d')
      .innerJoin('webhooks as w', 'w.id', 'd.webhook_id')
      .leftJoin('webhook_settings as s', 's.tenant_id', 'd.tenant_id')
      .selectAll('d')
      .select(['w.url', 'w.secret_box', 's.allow_private_targets'])
      .where('d.id', 'in', ids)
      .orderBy('d.next_attempt_at')
      .execute();
    return rows.map(({ url, secret_box, allow_private_targets, ...delivery }) => ({
      delivery: { ...delivery, attempts: Number(delivery.attempts) },
      url,
      secretBox: secret_box,
      allowPrivate: Number(allow_private_targets ?? 0) === 1,
    }));
  });
}

/** Records one attempt and the delivery's new state, releasing the worker's lease (no-op when the delivery is gone). */
export async function recordAttempt(
  db: Kysely<Database>,
  attempt: WebhookAttemptTable,
  next: { state: string; nextAttemptAt: string },
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const updated = await trx
      .updateTable('webhook_deliveries')
      .set({
        state: next.state,
        attempts: attempt.attempt,
        next_attempt_at: next.nextAttemptAt,
        locked_until: null,
        updated_at: attempt.at,
      })
      .where('id', '=', attempt.delivery_id)
      .executeTakeFirst();
    // The webhook was deleted while its delivery was under way: nothing left to log against.
    if (Number(updated.numUpdatedRows) === 0) return;
    await trx.insertInto('webhook_attempts').values(attempt).execute();
  });
}

/** Gives claimed rows back without counting an attempt (the worker is closing). */
export async function releaseDeliveries(
  db: Kysely<Database>,
  ids: readonly string[],
): Promise<void> {
  if (ids.length === 0) return;
  await db
    .updateTable('webhook_deliveries')
    .set({ locked_until: null })
    .where('id', 'in', [...ids])
    .execute();
}

/** A webhook's latest deliveries, newest first, with their attempts in order. */
export async function listDeliveries(
  db: Db,
  tenantId: string,
  webhookId: string,
  limit: number,
): Promise<Array<{ delivery: WebhookDeliveryTable; attempts: WebhookAttemptTable[] }>> {
  const deliveries = await db
    .selectFrom('webhook_deliveries')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('webhook_id', '=', webhookId)
    .orderBy('occurred_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  if (deliveries.length === 0) return [];
  const attempts = await db
    .selectFrom('webhook_attempts')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where(
      'delivery_id',
      'in',
      deliveries.map((d) => d.id),
    )
    .orderBy('attempt')
    .execute();
  return deliveries.map((delivery) => ({
    delivery,
    attempts: attempts.filter((a) => a.delivery_id === delivery.id),
  }));
}

/**
 * Deletes finished (`delivered`, `failed`) deliveries last changed before `before`, with their
 * attempts; answers how many deliveries went. Pending ones are kept whatever their age.
 */
export async function pruneDeliveries(db: Kysely<Database>, before: string): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const old = trx
      .selectFrom('webhook_deliveries')
      .select('id')
      .where('state', 'in', ['delivered', 'failed'])
      .where('updated_at', '<', before);
    await trx.deleteFrom('webhook_attempts').where('delivery_id', 'in', old).execute();
    const done = await trx
      .deleteFrom('webhook_deliveries')
      .where('state', 'in', ['delivered', 'failed'])
      .where('updated_at', '<', before)
      .executeTakeFirst();
    return Number(done.numDeletedRows);
  });
}
