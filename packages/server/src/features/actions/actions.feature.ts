import type { UpdraftFeature } from '../../http/app-types.js';
import { countActionsByState } from './action.repository.js';
import { actionRoutes } from './action.routes.js';
import { ActionService } from './action.service.js';

/** Actions (assign, cancel, history), mounted at `/api/v1`; also feeds the actions-by-state gauge. */
export const actionsFeature: UpdraftFeature = async (app) => {
  const { db, metrics, deviceChanges } = app.updraft;
  metrics.setActionsByStateSource(() => countActionsByState(db));
  await app.register(actionRoutes, {
    actions: new ActionService(db, () => app.updraft.now(), deviceChanges),
  });
};
