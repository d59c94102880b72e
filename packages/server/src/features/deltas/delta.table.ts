import type { Generated } from 'kysely';

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
  /** While `building`: until when the claiming replica holds the job (ISO time; renewed). */
  lease_until: string | null;
  /** While `building`: the replica encoding it (see `DeltaService.owner`). */
  claimed_by: string | null;
  /** How many times the job was claimed (a graceful stop gives its claim back). */
  attempts: Generated<number>;
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
 * A cached patch's life: `queued` → `building` (claimed by one replica under a lease) → `ready`
 * (offered), `not_smaller` (the full image is sent instead) or `failed` (encoder error, budget or
 * too many attempts; the full image is sent). A lapsed lease or a graceful stop makes the job
 * claimable again.
 */
export const DELTA_STATES = ['queued', 'building', 'ready', 'not_smaller', 'failed'] as const;
/** One {@link DELTA_STATES} value. */
export type DeltaState = (typeof DELTA_STATES)[number];

/** Runtime guard for {@link DeltaState}. */
export function isDeltaState(value: unknown): value is DeltaState {
  return typeof value === 'string' && (DELTA_STATES as readonly string[]).includes(value);
}
