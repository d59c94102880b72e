import type { Kysely, Selectable, Transaction } from 'kysely';
import type { Database } from '../../db/database.js';
import type { DeltaState, DeltaTable } from './delta.table.js';
import './delta.table.js';
import '../releases/release.table.js';
import '../actions/action.table.js';
import '../devices/device.table.js';

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

function toRecord(r: Selectable<DeltaTable>): DeltaRecord {
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

/** A live (not deleted) release of the tenant: its id and device class, or undefined. */
export async function findLiveRelease(
  db: Db,
  tenantId: string,
  releaseId: string,
): Promise<{ id: string; deviceClassId: string } | undefined> {
  const row = await db
    .selectFrom('releases')
    .select(['id', 'device_class_id'])
    .where('tenant_id', '=', tenantId)
    .where('id', '=', releaseId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  return row && { id: row.id, deviceClassId: row.device_class_id };
}

/**
 * Ids of the live releases of one device class, other than `exceptId`, whose id or version is
 * `name` (a version can match several releases only across classes, so at most one here).
 */
export async function releaseIdsNamed(
  db: Db,
  tenantId: string,
  deviceClassId: string,
  exceptId: string,
  name: string,
): Promise<string[]> {
  const rows = await db
    .selectFrom('releases')
    .select('id')
    .where('tenant_id', '=', tenantId)
    .where('device_class_id', '=', deviceClassId)
    .where('deleted_at', 'is', null)
    .where('id', '!=', exceptId)
    .where((eb) => eb.or([eb('id', '=', name), eb('version', '=', name)]))
    .execute();
  return rows.map((r) => r.id);
}

/** The image digest of each component a device last reported (null: not reported). */
export async function installedDigests(
  db: Db,
  tenantId: string,
  deviceId: string,
): Promise<Array<{ componentId: string; digest: string | null }>> {
  const rows = await db
    .selectFrom('device_components')
    .select(['component_id', 'digest'])
    .where('tenant_id', '=', tenantId)
    .where('device_id', '=', deviceId)
    .execute();
  return rows.map((r) => ({ componentId: r.component_id, digest: r.digest }));
}

/**
 * The device's open action whose release delivers the ready patch `patchDigest`, with the sizes
 * that give the bytes saved; undefined when there is none.
 */
export async function openActionForPatch(
  db: Db,
  tenantId: string,
  deviceId: string,
  patchDigest: string,
): Promise<
  { actionId: string; releaseId: string; targetSize: number; patchSize: number } | undefined
> {
  const row = await db
    .selectFrom('actions as a')
    .innerJoin('release_payloads as p', (j) =>
      j.onRef('p.release_id', '=', 'a.release_id').onRef('p.tenant_id', '=', 'a.tenant_id'),
    )
    .innerJoin('deltas as d', (j) =>
      j.onRef('d.target_digest', '=', 'p.sha256').onRef('d.tenant_id', '=', 'p.tenant_id'),
    )
    .select(['a.id', 'a.release_id', 'd.target_size', 'd.patch_size'])
    .where('a.tenant_id', '=', tenantId)
    .where('a.open_key', '=', deviceId)
    .where('d.patch_digest', '=', patchDigest)
    .where('d.state', '=', 'ready')
    .executeTakeFirst();
  return (
    row && {
      actionId: row.id,
      releaseId: row.release_id,
      targetSize: Number(row.target_size),
      patchSize: Number(row.patch_size),
    }
  );
}

/** True when a live release of the tenant still delivers the payload `digest`. */
export async function isLivePayload(db: Db, tenantId: string, digest: string): Promise<boolean> {
  const live = await db
    .selectFrom('release_payloads as p')
    .innerJoin('releases as r', 'r.id', 'p.release_id')
    .select('p.release_id')
    .where('p.tenant_id', '=', tenantId)
    .where('p.sha256', '=', digest)
    .where('r.deleted_at', 'is', null)
    .executeTakeFirst();
  return live !== undefined;
}

/** Deletes the tenant's patch records whose target is `targetDigest`; returns their patch digests. */
export async function deleteDeltasTo(
  db: Db,
  tenantId: string,
  targetDigest: string,
): Promise<Array<string | null>> {
  const rows = await db
    .deleteFrom('deltas')
    .where('tenant_id', '=', tenantId)
    .where('target_digest', '=', targetDigest)
    .returning('patch_digest')
    .execute();
  return rows.map((r) => r.patch_digest);
}

/** True when any record (of any tenant) still points at the patch blob `patchDigest`. */
export async function isPatchReferenced(db: Db, patchDigest: string): Promise<boolean> {
  const other = await db
    .selectFrom('deltas')
    .select('tenant_id')
    .where('patch_digest', '=', patchDigest)
    .executeTakeFirst();
  return other !== undefined;
}
