import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import type { BlobStore } from '../../ports/blob-store.js';
import './delta.table.js';
import '../releases/release.table.js';

/**
 * Drops the cached patches whose target is one of `targetDigests` once no live release of the
 * tenant delivers that payload any more (after a release is deleted), and their patch blobs when
 * no other record (of any tenant) points at them. Returns how many records went. Run after the
 * deletion committed: a crash in between leaves an unused patch, never a missing one.
 */
export async function forgetDeltasOf(
  db: Kysely<Database>,
  blobs: BlobStore,
  tenantId: string,
  targetDigests: readonly string[],
): Promise<number> {
  let forgotten = 0;
  for (const target of targetDigests) {
    const live = await db
      .selectFrom('release_payloads as p')
      .innerJoin('releases as r', 'r.id', 'p.release_id')
      .select('p.release_id')
      .where('p.tenant_id', '=', tenantId)
      .where('p.sha256', '=', target)
      .where('r.deleted_at', 'is', null)
      .executeTakeFirst();
    if (live !== undefined) continue;
    const rows = await db
      .deleteFrom('deltas')
      .where('tenant_id', '=', tenantId)
      .where('target_digest', '=', target)
      .returning('patch_digest')
      .execute();
    forgotten += rows.length;
    for (const { patch_digest: patch } of rows) {
      if (patch === null) continue;
      const other = await db
        .selectFrom('deltas')
        .select('tenant_id')
        .where('patch_digest', '=', patch)
        .executeTakeFirst();
      if (other === undefined) await blobs.delete(patch);
    }
  }
  return forgotten;
}
