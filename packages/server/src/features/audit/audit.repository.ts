import { randomBytes } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../../db/database.js';
import './audit.table.js';

/** Outcomes an audit entry can record. */
export const AUDIT_OUTCOMES = ['success', 'failure', 'denied'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/** One audit entry: who did what to which resource, when, from where, and how it ended. */
export interface AuditEntry {
  readonly tenantId: string;
  readonly actorType: 'user' | 'device' | 'anonymous' | 'system';
  readonly actorId: string | null;
  /** A verb on a resource, e.g. `device.decommission`, or `METHOD /route` when nothing better. */
  readonly action: string;
  readonly resourceType: string | null;
  readonly resourceId: string | null;
  /** What changed; must never hold secrets. */
  readonly change: Readonly<Record<string, unknown>> | null;
  readonly ip: string | null;
  readonly outcome: AuditOutcome;
  readonly status: number;
  readonly requestId: string | null;
}

/** An audit entry as stored and queried. */
export interface AuditRecord extends AuditEntry {
  readonly id: string;
  readonly at: string;
}

// Ids sort by time first, so entries written within one millisecond still come out in order.
function auditId(at: string): string {
  return `aud_${at.replaceAll(/[-:.TZ]/g, '')}_${randomBytes(6).toString('hex')}`;
}

/**
 * Appends an entry. Call it inside the transaction that makes the change, so the change and its
 * record commit or roll back together. There is no update or delete function: the table is
 * append-only (and database triggers reject UPDATE/DELETE).
 */
export async function appendAudit(
  trx: Transaction<Database> | Kysely<Database>,
  entry: AuditEntry,
  at: string,
): Promise<AuditRecord> {
  const id = auditId(at);
  await trx
    .insertInto('audit_log')
    .values({
      id,
      tenant_id: entry.tenantId,
      at,
      actor_type: entry.actorType,
      actor_id: entry.actorId,
      action: entry.action,
      resource_type: entry.resourceType,
      resource_id: entry.resourceId,
      change: entry.change ? JSON.stringify(entry.change) : null,
      ip: entry.ip,
      outcome: entry.outcome,
      status: entry.status,
      request_id: entry.requestId,
    })
    .execute();
  return { ...entry, id, at };
}

/** Filters for {@link queryAudit}; all optional, combined with AND. */
export interface AuditQuery {
  readonly actorId?: string;
  readonly resourceType?: string;
  readonly resourceId?: string;
  readonly action?: string;
  /** Inclusive lower bound (ISO 8601). */
  readonly from?: string;
  /** Exclusive upper bound (ISO 8601). */
  readonly to?: string;
  readonly limit: number;
  /** Id of the last entry of the previous page (entries come newest first). */
  readonly before?: string;
}

/** Entries of one tenant matching `query`, newest first. */
export async function queryAudit(
  db: Kysely<Database>,
  tenantId: string,
  query: AuditQuery,
): Promise<AuditRecord[]> {
  let q = db.selectFrom('audit_log').selectAll().where('tenant_id', '=', tenantId);
  if (query.actorId) q = q.where('actor_id', '=', query.actorId);
  if (query.resourceType) q = q.where('resource_type', '=', query.resourceType);
  if (query.resourceId) q = q.where('resource_id', '=', query.resourceId);
  if (query.action) q = q.where('action', '=', query.action);
  if (query.from) q = q.where('at', '>=', query.from);
  if (query.to) q = q.where('at', '<', query.to);
  if (query.before) q = q.where('id', '<', query.before);
  const rows = await q.orderBy('id', 'desc').limit(query.limit).execute();
  return rows.map((r) => ({
    id: r.id,
    at: r.at,
    tenantId: r.tenant_id,
    actorType: r.actor_type as AuditEntry['actorType'],
    actorId: r.actor_id,
    action: r.action,
    resourceType: r.resource_type,
    resourceId: r.resource_id,
    change: r.change ? (JSON.parse(r.change) as Record<string, unknown>) : null,
    ip: r.ip,
    outcome: r.outcome as AuditOutcome,
    status: Number(r.status),
    requestId: r.request_id,
  }));
}
