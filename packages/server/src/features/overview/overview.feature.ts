import type { UpdraftFeature } from '../../http/app-types.js';
import { overviewRoutes } from './overview.routes.js';
import { OverviewService } from './overview.service.js';

/** The dashboard's overview (docs/web.md), mounted at `/api/v1`. */
export const overviewFeature: UpdraftFeature = async (app) => {
  await app.register(overviewRoutes, {
    overview: new OverviewService(app.updraft.db, () => app.updraft.now()),
  });
};
