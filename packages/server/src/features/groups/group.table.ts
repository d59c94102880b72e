/** A named set of devices: `static` (listed members) or `dynamic` (a saved target filter). */
export interface DeviceGroupTable {
  id: string;
  tenant_id: string;
  name: string;
  /** `static` or `dynamic` (see GROUP_KINDS). */
  kind: string;
  /** The saved CEL filter of a dynamic group; null for a static one. */
  filter: string | null;
  created_at: string;
}

/** A device listed in a static group. */
export interface DeviceGroupMemberTable {
  tenant_id: string;
  group_id: string;
  device_id: string;
}

declare module '../../db/database.js' {
  interface Database {
    device_groups: DeviceGroupTable;
    device_group_members: DeviceGroupMemberTable;
  }
}
