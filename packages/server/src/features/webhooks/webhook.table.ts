/** A tenant's subscription of one URL to some events. */
export interface WebhookTable {
  id: string;
  tenant_id: string;
  url: string;
  /** JSON array of {@link WebhookEvent}s. */
  events: string;
  /** The signing secret, AES-256-GCM under a key derived from the master key (webhook-secret-box.ts). */
  secret_box: string;
  created_at: string;
  created_by: string | null;
}

/** The outbox: one row per (event, webhook), written in the transaction of the change. */
export interface WebhookDeliveryTable {
  id: string;
  tenant_id: string;
  webhook_id: string;
  event: string;
  /** JSON: the `data` member of the body. */
  data: string;
  occurred_at: string;
  /** `pending`, `delivered` or `failed`. */
  state: string;
  attempts: number;
  next_attempt_at: string;
  /** A worker's lease while it delivers (another replica takes the row over once it passed). */
  locked_until: string | null;
  updated_at: string;
}

/** One delivery attempt: the answer's status code or the error, and how long it took. */
export interface WebhookAttemptTable {
  id: string;
  tenant_id: string;
  delivery_id: string;
  attempt: number;
  at: string;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
}

/** Per-tenant webhook settings (absent row = defaults). */
export interface WebhookSettingsTable {
  tenant_id: string;
  /** 0/1: webhook URLs may point at loopback, private, link-local or unique-local addresses. */
  allow_private_targets: number;
  updated_at: string;
}

declare module '../../db/database.js' {
  interface Database {
    webhooks: WebhookTable;
    webhook_deliveries: WebhookDeliveryTable;
    webhook_attempts: WebhookAttemptTable;
    webhook_settings: WebhookSettingsTable;
  }
}
