import type { UpdraftFeature } from '../../http/app-types.js';
import { DeviceFilterService } from '../filters/device-filter.service.js';
import { deviceRoutes } from './device.routes.js';
import { DeviceService } from './device.service.js';

/** The device registry, mounted at `/api/v1`. */
export const devicesFeature: UpdraftFeature = async (app) => {
  const { db, deviceChanges } = app.updraft;
  await app.register(deviceRoutes, {
    devices: new DeviceService(
      db,
      () => app.updraft.now(),
      deviceChanges,
      new DeviceFilterService(db, () => app.updraft.now()),
    ),
  });
};
