import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { deltaDeviceRoutes, deltaManagementRoutes } from './delta.routes.js';
import type { DeltaService } from './delta.service.js';

/**
 * Server-generated deltas (docs/delta-format.md, "Delivery"). Mounted at the root: management
 * routes under `/api/v1`, the patch download under `/api/device/v1`. `deltas` is the app's one
 * service (built in `build-server.ts`), which also gives the device API's check-in its offers.
 */
export const deltasFeature: FastifyPluginAsyncTypebox<{ deltas: DeltaService }> = async (
  app,
  { deltas },
) => {
  await app.register(deltaManagementRoutes, { prefix: '/api/v1', deltas });
  await app.register(deltaDeviceRoutes, { prefix: '/api/device/v1', deltas });
};
