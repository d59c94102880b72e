import type { UpdraftFeature } from '../../http/app-types.js';
import { systemRoutes } from './system.routes.js';
import { SystemService } from './system.service.js';

/** Liveness, readiness, metrics and the OpenAPI document, mounted at the root. */
export const systemFeature: UpdraftFeature = async (app) => {
  const { db, blobs, metrics } = app.updraft;
  await app.register(systemRoutes, { system: new SystemService(db, blobs, metrics) });
};
