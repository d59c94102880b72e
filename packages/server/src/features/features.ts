import type { UpdraftFeature } from '../http/app-types.js';
import { actionsFeature } from './actions/actions.feature.js';
import { auditRoutes } from './audit/audit.routes.js';
import { deltasFeature } from './deltas/deltas.feature.js';
import { deviceApiFeature } from './device-api/device-api.feature.js';
import { deviceClassesRoutes } from './device-classes/device-classes.routes.js';
import { devicesRoutes } from './devices/devices.routes.js';
import { releasesFeature } from './releases/releases.feature.js';
import { systemRoutes } from './system/system.routes.js';
import { usersFeature } from './users/users.feature.js';

/** A feature plugin and the prefix it is mounted under (each one encapsulated). */
export interface FeatureMount {
  readonly name: string;
  readonly plugin: UpdraftFeature;
  readonly prefix: string;
}

/**
 * Every feature the server mounts, in order. Add one line per feature (see docs/server.md).
 * Management features go under `/api/v1`, device-facing ones under `/api/device/v1`.
 */
export const FEATURES: readonly FeatureMount[] = [
  { name: 'system', plugin: systemRoutes, prefix: '' },
  { name: 'users', plugin: usersFeature, prefix: '/api/v1' },
  { name: 'audit', plugin: auditRoutes, prefix: '/api/v1' },
  { name: 'device-classes', plugin: deviceClassesRoutes, prefix: '/api/v1' },
  { name: 'devices', plugin: devicesRoutes, prefix: '/api/v1' },
  { name: 'releases', plugin: releasesFeature(), prefix: '/api/v1' },
  { name: 'actions', plugin: actionsFeature, prefix: '/api/v1' },
  { name: 'device-api', plugin: deviceApiFeature, prefix: '/api/device/v1' },
  { name: 'deltas', plugin: deltasFeature, prefix: '' },
];
