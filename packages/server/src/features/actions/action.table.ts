/** An action: one release deployed to one device, with the state machine's current state. */
export interface ActionTable {
  id: string;
  tenant_id: string;
  device_id: string;
  release_id: string;
  state: string;
  /** 0/1 */
  cancel_requested: number;
  /**
   * 0/1. Legacy mirror of `action_type = 'download-only'`, written with it and never read (the
   * type is the one source of truth); kept so older readers of the table stay right.
   */
  download_only: number;
  /** One of core's `ACTION_TYPES`. */
  action_type: string;
  /** ISO 8601 deadline of a `time-forced` action, else null. */
  force_after: string | null;
  /** JSON `{ cron, durationSeconds, timeZone }` or null. */
  recurring_window: string | null;
  /** JSON `{ start, end }` or null. */
  maintenance_window: string | null;
  /** The campaign that created the action, null when assigned by hand. */
  campaign_id: string | null;
  /** The device id while open, null once closed (see the migration: one open action per device). */
  open_key: string | null;
  /** Bumped on every change; part of the device's check-in ETag. */
  revision: number;
  created_at: string;
  created_by: string | null;
  updated_at: string;
}

/** Append-only history of an action: server events (assign, cancel) and device reports. */
export interface ActionEventTable {
  id: string;
  tenant_id: string;
  action_id: string;
  at: string;
  /** `server` or `device`. */
  source: string;
  status: string;
  progress: number | null;
  code: string | null;
  message: string | null;
  report_id: string | null;
  actor_id: string | null;
}

declare module '../../db/database.js' {
  interface Database {
    actions: ActionTable;
    action_events: ActionEventTable;
  }
}
