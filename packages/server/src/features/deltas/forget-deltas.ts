import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import type { BlobStore } from '../../ports/blob-store.js';
import { deleteDeltasTo, isLivePayload, isPatchReferenced } from './delta.repository.js';

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
    if (await isLivePayload(db, tenantId, target)) continue;
    const patches = await deleteDeltasTo(db, tenantId, target);
    forgotten += patches.length;
    for (const patch of patches) {
      if (patch !== null && !(await isPatchReferenced(db, patch))) await blobs.delete(patch);
    }
  }
  return forgotten;
}
