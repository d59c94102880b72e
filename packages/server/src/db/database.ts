import type { Generated } from 'kysely';

/*
 * Row types of every table. Timestamps are ISO 8601 UTC strings (`Date#toISOString`) on both
 * dialects, so they sort as text and round-trip without driver-specific date handling; booleans
 * are 0/1 integers; JSON is stored as text. Feature modules add their tables by declaration
 * merging:
 *
 *   declare module '../../db/database.js' { interface Database { releases: ReleaseTable } }
 */

export interface TenantTable {
  id: string;
  name: string;
  created_at: string;
}

export interface AuditLogTable {
  id: string;
  tenant_id: string;
  at: string;
  actor_type: string;
  actor_id: string | null;
  action: string;
  resource_type: string | null;
  resource_id: string | null;
  /** JSON text: what changed (never secrets). */
  change: string | null;
  ip: string | null;
  outcome: string;
  status: number;
  request_id: string | null;
}

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

export interface DeviceTable {
  id: string;
  tenant_id: string;
  name: string;
  device_class_id: string;
  created_at: string;
  last_seen_at: string | null;
  decommissioned_at: string | null;
}

export interface DeviceTokenTable {
  id: string;
  tenant_id: string;
  device_id: string;
  token_hash: string;
  created_at: string;
  revoked_at: string | null;
}

export interface DeviceAttributeTable {
  tenant_id: string;
  device_id: string;
  name: string;
  /** `string`, `number` or `boolean`; `value` holds its text form. */
  type: string;
  value: string;
  /** `reported` by the device or `custom` (set through the management API). */
  source: string;
}

export interface DeviceTagTable {
  tenant_id: string;
  device_id: string;
  tag: string;
}

export interface DeviceComponentTable {
  tenant_id: string;
  device_id: string;
  component_id: string;
  version: string | null;
  sequence_number: number | null;
  digest: string | null;
  updated_at: string;
}

/** Every table Kysely knows; features extend it by declaration merging (see above). */
export interface Database {
  tenants: TenantTable;
  audit_log: AuditLogTable;
  device_classes: DeviceClassTable;
  trusted_keys: TrustedKeyTable;
  devices: DeviceTable;
  device_tokens: DeviceTokenTable;
  device_attributes: DeviceAttributeTable;
  device_tags: DeviceTagTable;
  device_components: DeviceComponentTable;
}

// Kept so `Generated` stays available to feature tables that want database-assigned columns.
export type { Generated };
