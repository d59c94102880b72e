/** Per-tenant DDI settings (absent row: the defaults, see `ddi.repository.ts`). */
export interface DdiSettingsTable {
  tenant_id: string;
  /** 0/1: register unknown controllers that authenticate with a gateway token. */
  auto_register: number;
  /** The device class of auto-registered controllers (null: auto-registration cannot run). */
  device_class_id: string | null;
  polling_sleep_seconds: number;
  updated_at: string;
}

/** A tenant's gateway token: acts for any controller of the tenant (or of one device class). */
export interface DdiGatewayTokenTable {
  id: string;
  tenant_id: string;
  name: string;
  /** SHA-256 hex of the token; the token itself is shown once. */
  token_hash: string;
  /** Scope: only controllers of this class (and new ones are registered into it); null: any. */
  device_class_id: string | null;
  created_at: string;
  created_by: string | null;
  revoked_at: string | null;
}

/** The numeric id a DDI client sees for an action (assigned on first sight). */
export interface DdiActionIdTable {
  id: number;
  tenant_id: string;
  action_id: string;
}

declare module '../../db/database.js' {
  interface Database {
    ddi_settings: DdiSettingsTable;
    ddi_gateway_tokens: DdiGatewayTokenTable;
    ddi_action_ids: DdiActionIdTable;
  }
}
