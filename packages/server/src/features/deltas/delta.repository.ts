import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../../db/database.js';
import type { DeltaState } from './delta.table.js';
import './delta.table.js';
import '../releases/release.table.js';

type Db = Kysely<Database> | Transaction<Database>;

/** A release's delta bases as configured. */
export interface DeltaBases {
  readonly anyInstalled: boolean;
  readonly baseReleaseIds: string[];
}

/** One cached patch (or the record that none is worth sending). */
export interface DeltaRecord {
  readonly baseDigest: string;
  readonly targetDigest: string;
  readonly state: DeltaState;
  readonly targetSize: number;
  readonly patchDigest: string | null;
  readonly patchSize: number | null;
  readonly errorCode: string | null;
}

/** Key of a patch: the base image and the target payload, both SHA-256 hex. */
export interface DeltaKey {
  readonly tenantId: string;
  readonly baseDigest: string;
  readonly targetDigest: string;
}

function toRecord(r: Database['deltas']): DeltaRecord {
  return {
    baseDigest: r.base_digest,
    targetDigest: r.target_digest,
    state: r.state as DeltaState,
    targetSize: Number(r.target_size),
    patchDigest: r.patch_digest,
    patchSize: r.patch_size === null ? null : Number(r.patch_size),
    errorCode: r.error_code,
  };
}

/** The bases configured for a release, or undefined when it names none. */
export async function getDeltaBases(
  db: Db,
  tenantId: string,
  releaseId: string,
): Promise<DeltaBases | undefined> {
  const row = await db
    .selectFrom('release_delta_bases')
    .select(['any_installed', 'base_release_ids'])
    .where('tenant_id', '=', tenantId)
    .where('release_id', '=', releaseId)
    .executeTakeFirst();
  if (row === undefined) return undefined;
  return {
    anyInstalled: Number(row.any_installed) === 1,
    baseReleaseIds: JSON.parse(row.base_release_ids) as string[],
  };
}

/** Replaces a release's delta bases. */
export async function setDeltaBases(
  trx: Transaction<Database>,
  tenantId: string,
  releaseId: string,
  bases: DeltaBases,
  at: string,
): Promise<void> {
  const values = {
    any_installed: bases.anyInstalled ? 1 : 0,
    base_release_ids: JSON.stringify(bases.baseReleaseIds),
    updated_at: at,
  };
  await trx
    .insertInto('release_delta_bases')
    .values({ release_id: releaseId, tenant_id: tenantId, ...values })
    .onConflict((oc) => oc.column('release_id').doUpdateSet(values))
    .execute();
}

/** Cached patches for these (base, target) pairs. */
export async function findDeltas(
  db: Db,
  tenantId: string,
  pairs: readonly { baseDigest: string; targetDigest: string }[],
): Promise<DeltaRecord[]> {
  if (pairs.length === 0) return [];
  const rows = await db
    .selectFrom('deltas')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where((eb) =>
      eb.or(
        pairs.map((p) =>
          eb.and([eb('base_digest', '=', p.baseDigest), eb('target_digest', '=', p.targetDigest)]),
        ),
      ),
    )
    .execute();
  return rows.map(toRecord);
}

/** Every cached patch whose target is one of `targetDigests`. */
export async function deltasForTargets(
  db: Db,
  tenantId: string,
  targetDigests: readonly string[],
): Promise<DeltaRecord[]> {
  if (targetDigests.length === 0) return [];
  const rows = await db
    .selectFrom('deltas')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('target_digest', 'in', targetDigests)
    .orderBy('created_at')
    .orderBy('base_digest')
    .execute();
  return rows.map(toRecord);
}

/** Records a patch as queued unless a record exists; true when this call created it. */
export async function insertQueuedDelta(
  db: Db,
  key: DeltaKey,
  targetSize: number,
  at: string,
): Promise<boolean> {
  const r = await db
    .insertInto('deltas')
    .values({
      tenant_id: key.tenantId,
      base_digest: key.baseDigest,
      target_digest: key.targetDigest,
      state: 'queued',
      target_size: targetSize,
      patch_digest: null,
      patch_size: null,
      error_code: null,
      created_at: at,
      updated_at: at,
    })
    .onConflict((oc) => oc.columns(['tenant_id', 'base_digest', 'target_digest']).doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
}

/** Moves a patch record to a new state. */
export async function updateDelta(
  db: Db,
  key: DeltaKey,
  change: {
    state: DeltaState;
    patchDigest?: string | null;
    patchSize?: number | null;
    errorCode?: string | null;
  },
  at: string,
): Promise<void> {
  await db
    .updateTable('deltas')
    .set({
      state: change.state,
      patch_digest: change.patchDigest ?? null,
      patch_size: change.patchSize ?? null,
      error_code: change.errorCode ?? null,
      updated_at: at,
    })
    .where('tenant_id', '=', key.tenantId)
    .where('base_digest', '=', key.baseDigest)
    .where('target_digest', '=', key.targetDigest)
    .execute();
}

/** A ready patch of the tenant by its own digest (what the download route may serve). */
export async function findReadyPatch(
  db: Db,
  tenantId: string,
  patchDigest: string,
): Promise<DeltaRecord | undefined> {
  const row = await db
    .selectFrom('deltas')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('patch_digest', '=', patchDigest)
    .where('state', '=', 'ready')
    .executeTakeFirst();
  return row && toRecord(row);
}

/** Records one completed patch download of an action; false when it was already recorded. */
export async function recordDelivery(db: Db, row: Database['delta_deliveries']): Promise<boolean> {
  const r = await db
    .insertInto('delta_deliveries')
    .values(row)
    .onConflict((oc) => oc.columns(['action_id', 'patch_digest']).doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
}

/** Deliveries and bytes saved by deltas for one release. */
export async function releaseDeltaSavings(
  db: Db,
  tenantId: string,
  releaseId: string,
): Promise<{ deliveries: number; bytesSaved: number }> {
  const row = await db
    .selectFrom('delta_deliveries')
    .select((eb) => [
      eb.fn.countAll<number>().as('n'),
      eb.fn.coalesce(eb.fn.sum<number>('bytes_saved'), eb.lit(0)).as('saved'),
    ])
    .where('tenant_id', '=', tenantId)
    .where('release_id', '=', releaseId)
    .executeTakeFirstOrThrow();
  return { deliveries: Number(row.n), bytesSaved: Number(row.saved) };
}

/** Image digests (unencrypted payloads) of the given releases' component, for base matching. */
export async function payloadDigestsOf(
  db: Db,
  tenantId: string,
  releaseIds: readonly string[],
): Promise<{ releaseId: string; componentId: string; sha256: string; size: number }[]> {
  if (releaseIds.length === 0) return [];
  const rows = await db
    .selectFrom('release_payloads as p')
    .innerJoin('releases as r', 'r.id', 'p.release_id')
    .select(['p.release_id', 'p.component_id', 'p.sha256', 'p.size', 'r.components'])
    .where('p.tenant_id', '=', tenantId)
    .where('p.release_id', 'in', releaseIds)
    .where('r.deleted_at', 'is', null)
    .execute();
  return rows
    .filter((r) => isPlainPayload(r.components, r.component_id, r.sha256))
    .map((r) => ({
      releaseId: r.release_id,
      componentId: r.component_id,
      sha256: r.sha256,
      size: Number(r.size),
    }));
}

/**
 * True when a stored payload IS the component's image (not encrypted): only then does a patch
 * between payloads rebuild the image the manifest signs.
 */
export function isPlainPayload(
  componentsJson: string,
  componentId: string,
  sha256: string,
): boolean {
  const components = JSON.parse(componentsJson) as {
    id: string;
    imageDigest: string | null;
    encrypted: boolean;
  }[];
  const c = components.find((x) => x.id === componentId);
  return c !== undefined && !c.encrypted && c.imageDigest === sha256;
}

/** Size of a live, unencrypted payload with this digest, if the tenant holds one. */
export async function findPlainPayload(
  db: Db,
  tenantId: string,
  sha256: string,
): Promise<{ size: number } | undefined> {
  const rows = await db
    .selectFrom('release_payloads as p')
    .innerJoin('releases as r', 'r.id', 'p.release_id')
    .select(['p.component_id', 'p.size', 'r.components'])
    .where('p.tenant_id', '=', tenantId)
    .where('p.sha256', '=', sha256)
    .where('r.deleted_at', 'is', null)
    .limit(8)
    .execute();
  const row = rows.find((r) => isPlainPayload(r.components, r.component_id, sha256));
  return row && { size: Number(row.size) };
}
