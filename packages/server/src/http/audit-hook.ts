import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Transaction } from 'kysely';
import type { Database } from '../db/database.js';
import { type AuditOutcome, appendAudit } from '../features/audit/audit.repository.js';
import { DEFAULT_TENANT_ID } from '../tenants/tenant.repository.js';
import { addressKey, FixedWindowCounter } from './rate-limit.js';

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Entries for failed requests without a credential (junk login bodies, wrong passwords) kept per
 * client address, and in all, per rate-limit window; past either, one entry says so and the rest
 * are not written (each costs a row forever: the log is append-only).
 */
export const ANONYMOUS_AUDIT_BUDGET = { perAddress: 20, total: 1000 } as const;

/** The change a handler records: which resource, and what changed (no secrets). */
export interface AuditedChange<T> {
  readonly result: T;
  readonly resourceId: string | null;
  readonly change?: Readonly<Record<string, unknown>>;
}

function actorOf(request: FastifyRequest) {
  const p = request.principal;
  if (p?.kind === 'user')
    return { tenantId: p.tenantId, actorType: 'user' as const, actorId: p.userId };
  if (p?.kind === 'device')
    return { tenantId: p.tenantId, actorType: 'device' as const, actorId: p.deviceId };
  return { tenantId: DEFAULT_TENANT_ID, actorType: 'anonymous' as const, actorId: null };
}

/**
 * Runs `work` in one transaction and appends its audit entry inside the same transaction, so the
 * change and its record commit together. Use it for every state-changing management call.
 *
 * @example
 * const device = await audited(request, 'device.decommission', 'device', async (trx) => {
 *   await decommissionDevice(trx, tenantId, id, now);
 *   return { result: undefined, resourceId: id, change: { decommissioned: true } };
 * });
 */
export async function audited<T>(
  request: FastifyRequest,
  action: string,
  resourceType: string,
  work: (trx: Transaction<Database>) => Promise<AuditedChange<T>>,
  status = 200,
  /** Who acted, when the request has no principal yet (login records the user logging in). */
  actor?: { tenantId: string; actorType: 'user'; actorId: string },
): Promise<T> {
  const { db, now } = request.server.updraft;
  const result = await db.transaction().execute(async (trx) => {
    const done = await work(trx);
    await appendAudit(
      trx,
      {
        ...(actor ?? actorOf(request)),
        action,
        resourceType,
        resourceId: done.resourceId,
        change: done.change ?? null,
        ip: request.ip,
        outcome: 'success',
        status,
        requestId: request.id,
      },
      now().toISOString(),
    );
    return done.result;
  });
  request.auditWritten = true;
  return result;
}

/**
 * The safety net: after every state-changing management request that did not record its own
 * entry (failures, denials, or a handler that forgot), append one from the route and status.
 * Device API calls are kept by the actions feature's event history instead.
 */
export function installAuditHook(app: FastifyInstance): void {
  app.decorateRequest('auditWritten', false);
  const anonymous = new FixedWindowCounter(app.updraft.config.rateLimit.windowMs, () =>
    app.updraft.now().getTime(),
  );
  // Callback-style so the common case (reads, device calls) returns without allocating a promise.
  app.addHook('onResponse', (request, reply, done) => {
    if (
      request.auditWritten ||
      !STATE_CHANGING.has(request.method) ||
      request.is404 ||
      request.routeOptions.config.permission === 'device'
    )
      return done();
    const budget = request.principal === null ? anonymousBudget(anonymous, request.ip) : 'write';
    if (budget === 'skip') return done();
    appendFallbackEntry(app, request, reply, budget === 'suppress').then(() => done(), done);
  });
}

function anonymousBudget(counter: FixedWindowCounter, ip: string): 'write' | 'suppress' | 'skip' {
  const total = counter.hit('*');
  const mine = counter.hit(`ip:${addressKey(ip)}`);
  if (total > ANONYMOUS_AUDIT_BUDGET.total + 1) return 'skip';
  if (total === ANONYMOUS_AUDIT_BUDGET.total + 1) return 'suppress';
  if (mine > ANONYMOUS_AUDIT_BUDGET.perAddress + 1) return 'skip';
  return mine === ANONYMOUS_AUDIT_BUDGET.perAddress + 1 ? 'suppress' : 'write';
}

async function appendFallbackEntry(
  app: FastifyInstance,
  request: FastifyRequest,
  reply: FastifyReply,
  suppressing: boolean,
): Promise<void> {
  const status = reply.statusCode;
  const outcome: AuditOutcome =
    status < 400 ? 'success' : status === 401 || status === 403 ? 'denied' : 'failure';
  const params = (request.params ?? {}) as Record<string, unknown>;
  const resourceId = typeof params.id === 'string' ? params.id.slice(0, 200) : null;
  try {
    await appendAudit(
      app.updraft.db,
      {
        ...actorOf(request),
        action: suppressing
          ? 'audit.suppressed'
          : `${request.method} ${request.routeOptions.url ?? request.url}`,
        resourceType: null,
        resourceId,
        change: suppressing
          ? {
              reason: `more failed requests without a credential than the audit budget (${ANONYMOUS_AUDIT_BUDGET.perAddress} per address, ${ANONYMOUS_AUDIT_BUDGET.total} in all) this window; the rest are not recorded`,
              route: `${request.method} ${request.routeOptions.url ?? 'unmatched'}`,
            }
          : null,
        ip: request.ip,
        outcome,
        status,
        requestId: request.id,
      },
      app.updraft.now().toISOString(),
    );
  } catch (error) {
    request.log.error({ err: error }, 'could not append audit entry');
  }
}

/**
 * A unit of audited work as a service receives it: runs `work` in one transaction with the audit
 * entry the route chose (see {@link auditedBy}), so services stay free of HTTP types.
 */
export type AuditedRun = <T>(
  work: (trx: Transaction<Database>) => Promise<AuditedChange<T>>,
  status?: number,
) => Promise<T>;

/** {@link audited} for one request, action and resource type, as an {@link AuditedRun}. */
export function auditedBy(
  request: FastifyRequest,
  action: string,
  resourceType: string,
): AuditedRun {
  return (work, status) => audited(request, action, resourceType, work, status);
}
