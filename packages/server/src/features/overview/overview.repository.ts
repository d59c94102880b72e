import { type Kysely, type SqlBool, sql, type Transaction } from 'kysely';
import type { Database } from '../../db/database.js';
import '../actions/action.table.js';
import type { CampaignState, StateReason } from '../campaigns/campaign-states.js';
import '../campaigns/campaign.table.js';
import '../deltas/delta.table.js';
import '../device-classes/device-class.table.js';
import '../devices/device.table.js';
import '../releases/release.table.js';

type Db = Kysely<Database> | Transaction<Database>;

/*
 * The overview's aggregates (docs/web.md, "The overview"): each one set-based statement over one
 * tenant, served by the covering indexes of migration 20261203165000-overview-indexes.
 */

/** Active devices (not decommissioned) of one class, and how many were seen recently. */
export interface ClassCount {
  readonly deviceClassId: string;
  readonly name: string;
  readonly devices: number;
  readonly onlineLastHour: number;
  readonly onlineLastDay: number;
}

/**
 * The fleet by device class with the online counts, in one pass over the tenant's active
 * devices (`devices_overview` index), largest class first.
 */
export async function devicesByClass(
  db: Db,
  tenantId: string,
  since: { hour: string; day: string },
): Promise<ClassCount[]> {
  const rows = await devicesByClassQuery(db, tenantId, since).execute();
  return rows.map((r) => ({
    deviceClassId: r.device_class_id,
    name: r.name,
    devices: Number(r.n),
    onlineLastHour: Number(r.hour ?? 0),
    onlineLastDay: Number(r.day ?? 0),
  }));
}

/** The statement of {@link devicesByClass} (exported for its query-plan test). */
export function devicesByClassQuery(
  db: Db,
  tenantId: string,
  since: { hour: string; day: string },
) {
  const seenSince = (at: string) =>
    sql<number>`SUM(CASE WHEN d.last_seen_at >= ${at} THEN 1 ELSE 0 END)`;
  const counts = db
    .selectFrom('devices as d')
    .select((eb) => [
      'd.device_class_id',
      eb.fn.countAll<number>().as('n'),
      seenSince(since.hour).as('hour'),
      seenSince(since.day).as('day'),
    ])
    .where('d.tenant_id', '=', tenantId)
    .where('d.decommissioned_at', 'is', null)
    .groupBy('d.device_class_id');
  return db
    .selectFrom(counts.as('c'))
    .innerJoin('device_classes as k', 'k.id', 'c.device_class_id')
    .select(['c.device_class_id', 'k.name', 'c.n', 'c.hour', 'c.day'])
    .orderBy('c.n', 'desc')
    .orderBy('k.name');
}

/** Devices of a class that report `version` for at least one component. */
export interface VersionCount {
  readonly deviceClassId: string;
  readonly version: string;
  readonly devices: number;
}

/**
 * Active devices by installed version: per class and version, the devices reporting that version
 * for any component. A device
 * whose components carry different versions counts under each of them. Largest first.
 */
export async function devicesByVersion(db: Db, tenantId: string): Promise<VersionCount[]> {
  const rows = await devicesByVersionQuery(db, tenantId).execute();
  return rows.map((r) => ({
    deviceClassId: r.device_class_id,
    version: r.version as string,
    devices: Number(r.n),
  }));
}

/** The statement of {@link devicesByVersion} (exported for its query-plan test). */
export function devicesByVersionQuery(db: Db, tenantId: string) {
  // Driven from the tenant's active devices (`devices_overview`), each device's versions read
  // from `device_components_version` (both covering).
  return db
    .selectFrom('devices as d')
    .innerJoin('device_components as dc', 'dc.device_id', 'd.id')
    .select((eb) => [
      'd.device_class_id',
      'dc.version',
      eb.fn.count<number>('dc.device_id').distinct().as('n'),
    ])
    .where('d.tenant_id', '=', tenantId)
    .where('d.decommissioned_at', 'is', null)
    .where('dc.version', 'is not', null)
    .groupBy(['d.device_class_id', 'dc.version'])
    .orderBy('n', 'desc')
    .orderBy('dc.version');
}

/** Active devices that report a version for at least one component. */
export async function devicesWithVersion(db: Db, tenantId: string): Promise<number> {
  const row = await db
    .selectFrom('devices as d')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('d.tenant_id', '=', tenantId)
    .where('d.decommissioned_at', 'is', null)
    .where(
      sql<SqlBool>`EXISTS (SELECT 1 FROM device_components dc
        WHERE dc.device_id = d.id AND dc.version IS NOT NULL)`,
    )
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** A campaign in progress as the overview lists it (newest first). */
export interface ActiveCampaignRow {
  readonly id: string;
  readonly name: string;
  readonly state: CampaignState;
  readonly stateReason: StateReason | null;
  readonly releaseId: string;
  readonly releaseVersion: string | null;
  readonly createdAt: string;
}

/**
 * Campaigns that are `running`, `paused`, `scheduled` or `approved`, and — when the tenant
 * requires approval — drafts awaiting their review (`review_decision` null: not rejected since
 * the last edit). Answers the newest `limit` and how many there are in all.
 */
export async function activeCampaigns(
  db: Db,
  tenantId: string,
  limit: number,
): Promise<{ total: number; items: ActiveCampaignRow[] }> {
  const settings = await db
    .selectFrom('campaign_settings')
    .select('approval_required')
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  // No row: the default, approval required (docs/campaigns.md).
  const approvalRequired = settings === undefined || Number(settings.approval_required) === 1;
  const active = db
    .selectFrom('campaigns as c')
    .where('c.tenant_id', '=', tenantId)
    .where((eb) =>
      eb.or([
        eb('c.state', 'in', ['running', 'paused', 'scheduled', 'approved']),
        ...(approvalRequired
          ? [eb.and([eb('c.state', '=', 'draft'), eb('c.review_decision', 'is', null)])]
          : []),
      ]),
    );
  const [count, rows] = await Promise.all([
    active.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    active
      .leftJoin('releases as r', 'r.id', 'c.release_id')
      .select([
        'c.id',
        'c.name',
        'c.state',
        'c.state_reason',
        'c.release_id',
        'r.version',
        'c.created_at',
      ])
      .orderBy('c.created_at', 'desc')
      .orderBy('c.id', 'desc')
      .limit(limit)
      .execute(),
  ]);
  return {
    total: Number(count.n),
    items: rows.map((r) => ({
      id: r.id,
      name: r.name,
      state: r.state as CampaignState,
      stateReason: r.state_reason as StateReason | null,
      releaseId: r.release_id,
      releaseVersion: r.version ?? null,
      createdAt: r.created_at,
    })),
  };
}

/** Health verdicts of campaigns (docs/campaigns.md) that fail a target without a failure report. */
export const HEALTH_FAILURE_CODES = ['DEVICE_REVERTED', 'DEVICE_SILENT'] as const;

/** Failures with one code (null: the report gave none) since a time. */
export interface FailureCount {
  readonly code: string | null;
  readonly count: number;
  /** One of the devices' messages for this code (the greatest, for a stable pick), or null. */
  readonly exampleMessage: string | null;
}

/**
 * Failures since `since`, by code, most frequent first: every action that reached `failure` or
 * `rejected` (its report, `action_events_tenant_status_at` index), plus campaign targets failed
 * by a health verdict (`DEVICE_REVERTED`, `DEVICE_SILENT`; their action had succeeded, so they
 * are not counted twice), reached through the tenant's campaigns and `campaign_targets_code`.
 */
export async function failuresSince(
  db: Db,
  tenantId: string,
  since: string,
): Promise<FailureCount[]> {
  const rows = await failuresSinceQuery(db, tenantId, since).execute();
  // Ordered here: the dialects disagree on where NULL sorts, and there are few codes.
  return rows
    .map((r) => ({ code: r.code, count: Number(r.n), exampleMessage: r.example ?? null }))
    .sort(
      (a, b) =>
        b.count - a.count ||
        (a.code === null ? 1 : b.code === null ? -1 : a.code < b.code ? -1 : 1),
    );
}

/** The statement of {@link failuresSince} (exported for its query-plan test). */
export function failuresSinceQuery(db: Db, tenantId: string, since: string) {
  const reported = db
    .selectFrom('action_events as e')
    .select(['e.code', 'e.message'])
    .where('e.tenant_id', '=', tenantId)
    .where('e.status', 'in', ['failure', 'rejected'])
    .where('e.at', '>=', since);
  const verdicts = db
    .selectFrom('campaigns as c')
    .innerJoin('campaign_targets as t', 't.campaign_id', 'c.id')
    .select(['t.code', sql<string | null>`NULL`.as('message')])
    .where('c.tenant_id', '=', tenantId)
    .where('t.code', 'in', HEALTH_FAILURE_CODES)
    .where('t.status', '=', 'failed')
    .where('t.updated_at', '>=', since);
  return db
    .selectFrom(reported.unionAll(verdicts).as('f'))
    .select((eb) => [
      'f.code',
      eb.fn.countAll<number>().as('n'),
      eb.fn.max('f.message').as('example'),
    ])
    .groupBy('f.code');
}

/** Completed delta downloads of the tenant and the bytes they saved (full image − patch). */
export async function deltaSavings(
  db: Db,
  tenantId: string,
): Promise<{ downloads: number; bytesSaved: number }> {
  const row = await deltaSavingsQuery(db, tenantId).executeTakeFirstOrThrow();
  return { downloads: Number(row.n), bytesSaved: Number(row.saved) };
}

/** The statement of {@link deltaSavings} (exported for its query-plan test). */
export function deltaSavingsQuery(db: Db, tenantId: string) {
  return db
    .selectFrom('delta_deliveries')
    .select((eb) => [
      eb.fn.countAll<number>().as('n'),
      eb.fn.coalesce(eb.fn.sum<number>('bytes_saved'), eb.lit(0)).as('saved'),
    ])
    .where('tenant_id', '=', tenantId);
}
