import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import { ServerError } from '../../errors.js';
import { type AuditRecord, queryAudit } from './audit.repository.js';

/** Filters of an audit query as a client gives them (times as ISO 8601 text). */
export interface AuditFilters {
  readonly actor?: string;
  readonly resourceType?: string;
  readonly resourceId?: string;
  readonly action?: string;
  readonly from?: string;
  readonly to?: string;
  readonly before?: string;
  readonly limit: number;
}

/** An ISO 8601 time that names a real instant, normalised; a made-up date is a 400. */
function instant(name: string, text: string): string {
  const at = new Date(text);
  // `Date` rolls 2026-02-30 over to March: compare the calendar date back to catch that.
  if (Number.isNaN(at.getTime()) || at.toISOString().slice(0, 10) !== text.slice(0, 10)) {
    throw new ServerError('HTTP_VALIDATION_FAILED', `${name} is not a real date: ${text}`, {
      details: { [name]: text },
    });
  }
  return at.toISOString();
}

/** Reads the audit log (there is nothing that changes it: the table is append-only). */
export class AuditService {
  constructor(private readonly db: Kysely<Database>) {}

  /** A tenant's entries matching `filters`, newest first. */
  query(tenantId: string, filters: AuditFilters): Promise<AuditRecord[]> {
    return queryAudit(this.db, tenantId, {
      limit: filters.limit,
      ...(filters.actor ? { actorId: filters.actor } : {}),
      ...(filters.resourceType ? { resourceType: filters.resourceType } : {}),
      ...(filters.resourceId ? { resourceId: filters.resourceId } : {}),
      ...(filters.action ? { action: filters.action } : {}),
      ...(filters.from ? { from: instant('from', filters.from) } : {}),
      ...(filters.to ? { to: instant('to', filters.to) } : {}),
      ...(filters.before ? { before: filters.before } : {}),
    });
  }
}
