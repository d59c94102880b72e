/** A device class: the vendor-id/class-id pair its manifests must carry (SUIT accident protection). */
export interface DeviceClassTable {
  id: string;
  tenant_id: string;
  name: string;
  vendor_name: string | null;
  model_name: string | null;
  /** RFC 4122 UUID text, as used in SUIT manifests. */
  vendor_id: string;
  class_id: string;
  created_at: string;
}

/** A public signing key trusted for a class; a revoked key keeps its row (when, by whom, why). */
export interface TrustedKeyTable {
  id: string;
  tenant_id: string;
  device_class_id: string;
  /** Key id (hex) as the manifest's COSE header names it. */
  kid: string;
  /** `pem` or `cose_key`: how the key was given. */
  format: string;
  /** SPKI PEM of the public key (COSE_Keys are stored converted, original kept in `source`). */
  public_key_pem: string;
  source: string;
  algorithm: string;
  created_at: string;
  created_by: string | null;
  revoked_at: string | null;
  revoked_by: string | null;
  revocation_reason: string | null;
}

declare module '../../db/database.js' {
  interface Database {
    device_classes: DeviceClassTable;
    trusted_keys: TrustedKeyTable;
  }
}
