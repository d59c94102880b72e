/** Statuses of a Mender auth set (docs/mender-api.md#admission). */
export const MENDER_AUTH_SET_STATUSES = [
  'preauthorized',
  'pending',
  'accepted',
  'rejected',
] as const;
export type MenderAuthSetStatus = (typeof MENDER_AUTH_SET_STATUSES)[number];

/** True for a known auth set status. */
export function isMenderAuthSetStatus(value: unknown): value is MenderAuthSetStatus {
  return (MENDER_AUTH_SET_STATUSES as readonly unknown[]).includes(value);
}

/** One identity (`id_data`) with one public key, as mender-client presents them. */
export interface MenderAuthSetTable {
  id: string;
  tenant_id: string;
  device_id: string;
  /** The id_data as canonical JSON (keys sorted). */
  id_data: string;
  /** SHA-256 hex of {@link id_data}. */
  id_data_digest: string;
  /** The public key as SPKI PEM (normalised). */
  public_key_pem: string;
  /** SHA-256 hex of the key's DER SPKI. */
  public_key_digest: string;
  status: string;
  created_at: string;
  updated_at: string;
}

declare module '../../db/database.js' {
  interface Database {
    mender_auth_sets: MenderAuthSetTable;
  }
}
