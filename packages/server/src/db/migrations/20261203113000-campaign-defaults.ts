import type { Kysely } from 'kysely';

/**
 * The campaign-level thresholds (docs/campaigns.md): each phase stores its own resolved values,
 * but the campaign keeps the defaults it was given so that an edit of its phases without
 * thresholds takes them again, and the API can show them. Nullable: null means the documented
 * defaults (95 % success, error threshold `{ percent: 10 }`).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('campaigns')
    .addColumn('success_threshold', 'double precision')
    .execute();
  // JSON `{ percent }` or `{ count }`.
  await db.schema.alterTable('campaigns').addColumn('error_threshold', 'text').execute();
}
