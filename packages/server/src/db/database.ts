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

export interface UserTable {
  id: string;
  tenant_id: string;
  username: string;
  /** `scrypt$N$r$p$salt$hash` (base64url parts). */
  password_hash: string;
  created_at: string;
  disabled_at: string | null;
}

export interface UserRoleTable {
  tenant_id: string;
  user_id: string;
  role: string;
}

export interface TokenTable {
  id: string;
  tenant_id: string;
  user_id: string;
  /** `session` (from login, expires) or `api` (named, long-lived). */
  kind: string;
  name: string;
  /** SHA-256 hex of the secret token; the token itself is never stored. */
  token_hash: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

/** Every table Kysely knows; features extend it by declaration merging (see above). */
export interface Database {
  tenants: TenantTable;
  users: UserTable;
  user_roles: UserRoleTable;
  tokens: TokenTable;
}

// Kept so `Generated` stays available to feature tables that want database-assigned columns.
export type { Generated };
