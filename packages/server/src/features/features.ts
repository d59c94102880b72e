import type { UpdraftFeature } from '../http/app-types.js';
import { systemRoutes } from './system/system.routes.js';

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
];
