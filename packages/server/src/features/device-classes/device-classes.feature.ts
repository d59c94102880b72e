import type { UpdraftFeature } from '../../http/app-types.js';
import { ActionService } from '../actions/action.service.js';
import { DeviceClassService } from './device-class.service.js';
import { deviceClassesRoutes } from './device-classes.routes.js';

/** Device classes and their trusted keys, mounted at `/api/v1`. */
export const deviceClassesFeature: UpdraftFeature = async (app) => {
  const { db, deviceChanges } = app.updraft;
  const now = () => app.updraft.now();
  const actions = new ActionService(db, now, deviceChanges);
  await app.register(deviceClassesRoutes, { classes: new DeviceClassService(db, actions, now) });
};
