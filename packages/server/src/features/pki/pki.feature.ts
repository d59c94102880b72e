import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { estRoutes } from './est.routes.js';
import { crlRoutes, pkiRoutes } from './pki.routes.js';
import type { PkiService } from './pki.service.js';

/**
 * Device identity (docs/pki.md), mounted at the root: EST under `/.well-known/est`, the CRL at
 * `/pki/<tenant>/crl`, the management API under `/api/v1`. The service is built in
 * `build-server.ts` (it loads the default tenant's CA at start).
 */
export const pkiFeature: FastifyPluginAsyncTypebox<{ pki: PkiService }> = async (app, { pki }) => {
  await app.register(estRoutes, { pki });
  await app.register(crlRoutes, { pki });
  await app.register(pkiRoutes, { prefix: '/api/v1', pki });
};
