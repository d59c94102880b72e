import type { UpdraftFeature } from '../../http/app-types.js';
import { auditRoutes } from './audit.routes.js';
import { AuditService } from './audit.service.js';

/** The audit log's read API, mounted at `/api/v1` (entries are appended by `http/audit-hook.ts`). */
export const auditFeature: UpdraftFeature = async (app) => {
  await app.register(auditRoutes, { audit: new AuditService(app.updraft.db) });
};
