import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../../db/database.js';
import type { ReleaseTable } from './release.table.js';
import './release.table.js';
import '../actions/action.table.js';

type Db = Kysely<Database> | Transaction<Database>;

/** A release component as stored (JSON in `releases.components`). */
export interface ReleaseComponent {
  readonly id: string;
  readonly imageDigest: string | null;
  readonly imageSize: number | null;
  readonly encrypted: boolean;
  readonly integrated: boolean;
}

/** One stored payload of a release. */
export interface ReleasePayload {
  readonly componentId: string;
  readonly sha256: string;
  readonly sha1: string;
  readonly md5: string;
  readonly size: number;
  /** The file name it was uploaded under, or null. */
  readonly fileName: string | null;
}

/** A release as the API shows it (no envelope bytes). */
export interface Release {
  readonly id: string;
  readonly deviceClassId: string;
  readonly version: string;
  readonly sequenceNumber: number;
  readonly manifestDigest: string;
  readonly signerKids: string[];
  readonly components: ReleaseComponent[];
  readonly text: Record<string, string> | null;
  readonly envelopeSize: number;
  readonly payloads: ReleasePayload[];
  readonly createdAt: string;
  readonly createdBy: string | null;
}

function toRelease(row: ReleaseTable, payloads: ReleasePayload[]): Release {
  return {
    id: row.id,
    deviceClassId: row.device_class_id,
    version: row.version,
    sequenceNumber: Number(row.sequence_number),
    manifestDigest: row.manifest_digest,
    signerKids: JSON.parse(row.signer_kids) as string[],
    components: JSON.parse(row.components) as ReleaseComponent[],
    text: row.text === null ? null : (JSON.parse(row.text) as Record<string, string>),
    envelopeSize: Number(row.envelope_size),
    payloads,
    createdAt: row.created_at,
    createdBy: row.created_by,
  };
}

/** Payload rows of the given releases, grouped by release id. */
async function payloadsOf(
  db: Db,
  tenantId: string,
  releaseIds: readonly string[],
): Promise<Map<string, ReleasePayload[]>> {
  const byRelease = new Map<string, ReleasePayload[]>();
  if (releaseIds.length === 0) return byRelease;
  const rows = await db
    .selectFrom('release_payloads')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('release_id', 'in', releaseIds)
    .orderBy('component_id')
    .execute();
  for (const r of rows) {
    const list = byRelease.get(r.release_id) ?? [];
    list.push({
      componentId: r.component_id,
      sha256: r.sha256,
      sha1: r.sha1,
      md5: r.md5,
      size: Number(r.size),
      fileName: r.file_name,
    });
    byRelease.set(r.release_id, list);
  }
  return byRelease;
}

/** A live (not deleted) release of the tenant, or undefined. */
export async function findRelease(
  db: Db,
  tenantId: string,
  releaseId: string,
): Promise<Release | undefined> {
  const row = await db
    .selectFrom('releases')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('id', '=', releaseId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  if (row === undefined) return undefined;
  return toRelease(row, (await payloadsOf(db, tenantId, [row.id])).get(row.id) ?? []);
}

/** The envelope bytes of a live release. */
export async function findEnvelope(
  db: Db,
  tenantId: string,
  releaseId: string,
): Promise<Buffer | undefined> {
  const row = await db
    .selectFrom('releases')
    .select('envelope')
    .where('tenant_id', '=', tenantId)
    .where('id', '=', releaseId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  return row === undefined ? undefined : Buffer.from(row.envelope, 'base64');
}

/** Filters and page of {@link listReleases}. */
export interface ReleaseQuery {
  readonly deviceClassId?: string | undefined;
  readonly limit: number;
  /** Id of the last release of the previous page (newest first). */
  readonly after?: string | undefined;
}

/** Live releases of the tenant, newest first. */
export async function listReleases(
  db: Db,
  tenantId: string,
  query: ReleaseQuery,
): Promise<Release[]> {
  let q = db
    .selectFrom('releases')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('deleted_at', 'is', null);
  if (query.deviceClassId !== undefined) q = q.where('device_class_id', '=', query.deviceClassId);
  if (query.after !== undefined) {
    const anchor = await db
      .selectFrom('releases')
      .select(['created_at', 'id'])
      .where('tenant_id', '=', tenantId)
      .where('id', '=', query.after)
      .executeTakeFirst();
    if (anchor !== undefined) {
      q = q.where((eb) =>
        eb.or([
          eb('created_at', '<', anchor.created_at),
          eb.and([eb('created_at', '=', anchor.created_at), eb('id', '<', anchor.id)]),
        ]),
      );
    }
  }
  const rows = await q
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(query.limit)
    .execute();
  const payloads = await payloadsOf(
    db,
    tenantId,
    rows.map((r) => r.id),
  );
  return rows.map((r) => toRelease(r, payloads.get(r.id) ?? []));
}

/** True when the class already has a live or deleted release with this sequence number. */
export async function sequenceNumberTaken(
  db: Db,
  tenantId: string,
  deviceClassId: string,
  sequenceNumber: number,
): Promise<boolean> {
  const row = await db
    .selectFrom('releases')
    .select('id')
    .where('tenant_id', '=', tenantId)
    .where('device_class_id', '=', deviceClassId)
    .where('sequence_number', '=', sequenceNumber)
    .executeTakeFirst();
  return row !== undefined;
}

/** Inserts a verified release and its payload rows (inside the caller's transaction). */
export async function insertRelease(
  trx: Transaction<Database>,
  row: Omit<ReleaseTable, 'deleted_at'>,
  payloads: readonly ReleasePayload[],
): Promise<void> {
  await trx
    .insertInto('releases')
    .values({ ...row, deleted_at: null })
    .execute();
  if (payloads.length > 0) {
    await trx
      .insertInto('release_payloads')
      .values(
        payloads.map((p) => ({
          tenant_id: row.tenant_id,
          release_id: row.id,
          component_id: p.componentId,
          sha256: p.sha256,
          sha1: p.sha1,
          md5: p.md5,
          size: p.size,
          file_name: p.fileName,
        })),
      )
      .execute();
  }
}

/** Marks a release deleted (the row stays for the actions that point at it). */
export async function markReleaseDeleted(
  trx: Transaction<Database>,
  tenantId: string,
  releaseId: string,
  at: string,
): Promise<boolean> {
  const r = await trx
    .updateTable('releases')
    .set({ deleted_at: at })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', releaseId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** Whether any live release (other than `exceptReleaseId`) of any tenant still uses a blob. */
export async function blobStillUsed(
  db: Db,
  sha256: string,
  exceptReleaseId: string,
): Promise<boolean> {
  const row = await db
    .selectFrom('release_payloads as p')
    .innerJoin('releases as r', 'r.id', 'p.release_id')
    .select('p.release_id')
    .where('p.sha256', '=', sha256)
    .where('r.deleted_at', 'is', null)
    .where('p.release_id', '!=', exceptReleaseId)
    .executeTakeFirst();
  return row !== undefined;
}

/** A payload the tenant may serve: size of a live release's payload with this digest. */
export async function findServablePayload(
  db: Db,
  tenantId: string,
  sha256: string,
): Promise<{ size: number } | undefined> {
  const row = await db
    .selectFrom('release_payloads as p')
    .innerJoin('releases as r', 'r.id', 'p.release_id')
    .select('p.size')
    .where('p.tenant_id', '=', tenantId)
    .where('p.sha256', '=', sha256)
    .where('r.deleted_at', 'is', null)
    .executeTakeFirst();
  return row === undefined ? undefined : { size: Number(row.size) };
}

/** Id of an open action that deploys the release, if any (a release in use is not deleted). */
export async function findOpenActionOfRelease(
  db: Db,
  tenantId: string,
  releaseId: string,
): Promise<string | undefined> {
  const row = await db
    .selectFrom('actions')
    .select('id')
    .where('tenant_id', '=', tenantId)
    .where('release_id', '=', releaseId)
    .where('open_key', 'is not', null)
    .executeTakeFirst();
  return row?.id;
}
