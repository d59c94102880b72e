import type { Generated } from 'kysely';

/*
 * The device registry's tables (added to `Database` by declaration merging, see db/database.ts).
 */

export interface DeviceTable {
  id: string;
  tenant_id: string;
  name: string;
  device_class_id: string;
  created_at: string;
  last_seen_at: string | null;
  decommissioned_at: string | null;
  /** `pending`, `accepted` or `rejected` (DEVICE_ADMISSIONS in features/pki/pki.table.ts). */
  admission: Generated<string>;
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
  /** semverKey(version): orders versions by semver precedence in SQL; null when not semver. */
  version_key: string | null;
}

declare module '../../db/database.js' {
  interface Database {
    devices: DeviceTable;
    device_tokens: DeviceTokenTable;
    device_attributes: DeviceAttributeTable;
    device_tags: DeviceTagTable;
    device_components: DeviceComponentTable;
  }
}
