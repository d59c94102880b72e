/** Which earlier images get a delta to a release (one row per release that names any). */
export interface ReleaseDeltaBasesTable {
  release_id: string;
  tenant_id: string;
  /** 1: any installed image the service holds as a payload is a base. */
  any_installed: number;
  /** JSON array of release ids (versions are resolved to ids when configured). */
  base_release_ids: string;
  updated_at: string;
}

/** The patch cache: base image digest → target payload digest, per tenant. */
export interface DeltaTable {
  tenant_id: string;
  base_digest: string;
  target_digest: string;
  /** One of {@link DELTA_STATES}. */
  state: string;
  target_size: number;
  patch_digest: string | null;
  patch_size: number | null;
  error_code: string | null;
  created_at: string;
  updated_at: string;
}

/** One completed patch download for an action (bytes saved = target size − patch size). */
export interface DeltaDeliveryTable {
  action_id: string;
  patch_digest: string;
  tenant_id: string;
  release_id: string;
  device_id: string;
  bytes_saved: number;
  at: string;
}

declare module '../../db/database.js' {
  interface Database {
    release_delta_bases: ReleaseDeltaBasesTable;
    deltas: DeltaTable;
    delta_deliveries: DeltaDeliveryTable;
  }
}

/**
 * A cached patch's life: `queued` → `building` → `ready` (offered), `not_smaller` (the full
 * image is sent instead) or `failed` (encoder error or budget; the full image is sent).
 */
export const DELTA_STATES = ['queued', 'building', 'ready', 'not_smaller', 'failed'] as const;
/** One {@link DELTA_STATES} value. */
export type DeltaState = (typeof DELTA_STATES)[number];

/** Runtime guard for {@link DeltaState}. */
export function isDeltaState(value: unknown): value is DeltaState {
  return typeof value === 'string' && (DELTA_STATES as readonly string[]).includes(value);
}
