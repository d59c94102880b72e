/** A management user of one tenant. */
export interface UserTable {
  id: string;
  tenant_id: string;
  username: string;
  /** `scrypt$N$r$p$salt$hash` (base64url parts). */
  password_hash: string;
  /** 1 while the password was generated or set by someone else: changed before anything else. */
  must_change_password: number;
  created_at: string;
  disabled_at: string | null;
}

/** One role of a user (see auth/permissions.ts). */
export interface UserRoleTable {
  tenant_id: string;
  user_id: string;
  role: string;
}

/** A bearer token of a user; only its SHA-256 is stored. */
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

declare module '../../db/database.js' {
  interface Database {
    users: UserTable;
    user_roles: UserRoleTable;
    tokens: TokenTable;
  }
}
