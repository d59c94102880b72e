/** The append-only audit log (database triggers reject UPDATE and DELETE). */
export interface AuditLogTable {
  id: string;
  tenant_id: string;
  at: string;
  actor_type: string;
  actor_id: string | null;
  action: string;
  resource_type: string | null;
  resource_id: string | null;
  /** JSON text: what changed (never secrets). */
  change: string | null;
  ip: string | null;
  outcome: string;
  status: number;
  request_id: string | null;
}

declare module '../../db/database.js' {
  interface Database {
    audit_log: AuditLogTable;
  }
}
