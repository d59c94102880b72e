import type { UpdraftFeature } from '../../http/app-types.js';
import { deltaDeviceRoutes, deltaManagementRoutes } from './delta.routes.js';
import { deltaServiceOf } from './delta-service.js';

/**
 * Server-generated deltas (docs/delta-format.md, "Delivery"). Mounted at the root: management
 * routes under `/api/v1`, the patch download under `/api/device/v1`. The check-in's offers come
 * from the same {@link deltaServiceOf} instance.
 */
export const deltasFeature: UpdraftFeature = async (app) => {
  const deltas = deltaServiceOf(app.updraft);
  deltas.useLogger(app.log);
  app.addHook('onClose', () => deltas.close());
  await app.register(deltaManagementRoutes, { prefix: '/api/v1', deltas });
  await app.register(deltaDeviceRoutes, { prefix: '/api/device/v1', deltas });
};
