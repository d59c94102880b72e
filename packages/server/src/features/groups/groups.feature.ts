import type { UpdraftFeature } from '../../http/app-types.js';
import { DeviceFilterService } from '../filters/device-filter.service.js';
import { groupRoutes } from './group.routes.js';
import { GroupService } from './group.service.js';

/** Device groups, mounted at `/api/v1`. */
export const groupsFeature: UpdraftFeature = async (app) => {
  const { db } = app.updraft;
  const now = () => app.updraft.now();
  await app.register(groupRoutes, {
    groups: new GroupService(db, now, new DeviceFilterService(db, now)),
  });
};
