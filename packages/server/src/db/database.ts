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

/** Every table Kysely knows; features extend it by declaration merging (see above). */
export interface Database {
  tenants: TenantTable;
}

// Kept so `Generated` stays available to feature tables that want database-assigned columns.
export type { Generated };
