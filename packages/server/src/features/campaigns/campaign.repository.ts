import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from '../../db/database.js';
import type { CampaignPhaseTable, CampaignTable, CampaignTargetTable } from './campaign.table.js';
import { ERROR_TARGET_STATUSES } from './campaign-states.js';
import '../actions/action.table.js';
import '../deltas/delta.table.js';
import '../devices/device.table.js';
import './campaign.table.js';

type Db = Kysely<Database> | Transaction<Database>;

/** The campaign row, or undefined (other tenants' campaigns are not there). */
export async function findCampaign(
  db: Db,
  tenantId: string,
  campaignId: string,
): Promise<CampaignTable | undefined> {
  return db
    .selectFrom('campaigns')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('id', '=', campaignId)
    .executeTakeFirst();
}

/** The phases of these campaigns, by campaign id, each list in order. */
export async function phasesOf(
  db: Db,
  tenantId: string,
  campaignIds: readonly string[],
): Promise<Map<string, CampaignPhaseTable[]>> {
  const out = new Map<string, CampaignPhaseTable[]>();
  if (campaignIds.length === 0) return out;
  const rows = await db
    .selectFrom('campaign_phases')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('campaign_id', 'in', [...campaignIds])
    .orderBy('campaign_id')
    .orderBy('idx')
    .execute();
  for (const row of rows) {
    const list = out.get(row.campaign_id) ?? [];
    list.push(row);
    out.set(row.campaign_id, list);
  }
  return out;
}

/** Filters and page of {@link listCampaigns}. */
export interface CampaignQuery {
  readonly state?: string | undefined;
  readonly limit: number;
  /** Id of the last campaign of the previous page (newest first). */
  readonly cursor?: string | undefined;
}

/** The tenant's campaigns, newest first, keyset paged by (created_at, id). */
export async function listCampaigns(
  db: Db,
  tenantId: string,
  query: CampaignQuery,
): Promise<CampaignTable[]> {
  let q = db.selectFrom('campaigns').selectAll().where('tenant_id', '=', tenantId);
  if (query.state !== undefined) q = q.where('state', '=', query.state);
  if (query.cursor !== undefined) {
    const anchor = await findCampaign(db, tenantId, query.cursor);
    // An unknown cursor is an empty page, not the first one (a client would loop forever).
    if (anchor === undefined) return [];
    q = q.where((eb) =>
      eb.or([
        eb('created_at', '<', anchor.created_at),
        eb.and([eb('created_at', '=', anchor.created_at), eb('id', '<', anchor.id)]),
      ]),
    );
  }
  return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(query.limit).execute();
}

/** Inserts a campaign and its phases. */
export async function insertCampaign(
  trx: Transaction<Database>,
  campaign: CampaignTable,
  phases: readonly CampaignPhaseTable[],
): Promise<void> {
  await trx.insertInto('campaigns').values(campaign).execute();
  await trx
    .insertInto('campaign_phases')
    .values([...phases])
    .execute();
}

/**
 * Writes `changes` over the campaign, optimistically: only while it still has `revision` (and
 * the revision is bumped). False when another writer (an operator, the engine) got there first.
 */
export async function updateCampaign(
  trx: Transaction<Database>,
  before: Pick<CampaignTable, 'tenant_id' | 'id' | 'revision'>,
  changes: Partial<Omit<CampaignTable, 'id' | 'tenant_id' | 'revision'>>,
): Promise<boolean> {
  const r = await trx
    .updateTable('campaigns')
    .set({ ...changes, revision: Number(before.revision) + 1 })
    .where('tenant_id', '=', before.tenant_id)
    .where('id', '=', before.id)
    .where('revision', '=', before.revision)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** Replaces a (not yet started) campaign's phases. */
export async function replacePhases(
  trx: Transaction<Database>,
  tenantId: string,
  campaignId: string,
  phases: readonly CampaignPhaseTable[],
): Promise<void> {
  await trx
    .deleteFrom('campaign_phases')
    .where('tenant_id', '=', tenantId)
    .where('campaign_id', '=', campaignId)
    .execute();
  await trx
    .insertInto('campaign_phases')
    .values([...phases])
    .execute();
}

/**
 * Lets the current phase go on after an error-threshold pause: its errors so far are
 * acknowledged (the threshold counts only new ones) and it runs again. One statement: the count
 * is a subquery over the phase's targets.
 */
export async function acknowledgePhaseErrors(
  trx: Transaction<Database>,
  tenantId: string,
  campaignId: string,
  phase: number,
): Promise<void> {
  await trx
    .updateTable('campaign_phases')
    .set((eb) => ({
      state: 'running',
      errors_acknowledged: eb
        .selectFrom('campaign_targets')
        .select((s) => s.fn.countAll<number>().as('n'))
        .where('campaign_id', '=', campaignId)
        .where('phase', '=', phase)
        .where('status', 'in', [...ERROR_TARGET_STATUSES]),
    }))
    .where('tenant_id', '=', tenantId)
    .where('campaign_id', '=', campaignId)
    .where('idx', '=', phase)
    .execute();
}

// Open actions the server may still cancel (action-state-machine's canRequestCancel: a device
// past `downloaded` is installing and finishes).
const CANCELLABLE_ACTION_STATES = ['assigned', 'downloading', 'downloaded'] as const;

/**
 * Cancels what a cancelled campaign still holds, set-based in the caller's transaction: the
 * cancel request on its open actions that can still be cancelled (UPDATE … WHERE, revision
 * bumped so check-in ETags change), a `cancel_requested` event for each action so flagged
 * (INSERT … SELECT), and its targets still waiting for an action → `cancelled`. Answers the
 * devices whose actions changed (their check-in caches must drop them after the commit).
 */
export async function cancelCampaignWork(
  trx: Transaction<Database>,
  tenantId: string,
  campaignId: string,
  actorId: string | null,
  at: string,
): Promise<string[]> {
  await trx
    .updateTable('actions')
    .set((eb) => ({ cancel_requested: 1, revision: eb('revision', '+', 1), updated_at: at }))
    .where('tenant_id', '=', tenantId)
    .where('campaign_id', '=', campaignId)
    .where('open_key', 'is not', null)
    .where('cancel_requested', '=', 0)
    .where('state', 'in', [...CANCELLABLE_ACTION_STATES])
    .execute();
  // The rows just updated: flagged and stamped `at` (they stay locked by this transaction, so no
  // report restamps them). Only an action of this campaign cancelled by hand in this very
  // millisecond would match too (and get a second event). Matching on the stamp, not on "has no
  // event yet", keeps this linear: an anti-join against the table being inserted into went
  // quadratic on PostgreSQL (45 s for 33,000 actions; 3 s this way).
  const flaggedNow = (db: Db) =>
    db
      .selectFrom('actions')
      .where('tenant_id', '=', tenantId)
      .where('campaign_id', '=', campaignId)
      .where('open_key', 'is not', null)
      .where('cancel_requested', '=', 1)
      .where('updated_at', '=', at);
  const devices = (await flaggedNow(trx).select('device_id').execute()).map((r) => r.device_id);
  if (devices.length > 0) {
    // Event ids sort by time like action-repository's (`evt_<compact time>_…`); the action id in
    // place of randomness keeps them unique (one cancel request per action).
    const compact = at.replaceAll(/[-:.TZ]/g, '');
    await trx
      .insertInto('action_events')
      .columns([
        'id',
        'tenant_id',
        'action_id',
        'at',
        'source',
        'status',
        'progress',
        'code',
        'message',
        'report_id',
        'actor_id',
      ])
      .expression(
        flaggedNow(trx).select([
          sql<string>`${`evt_${compact}_`} || actions.id`.as('id'),
          'tenant_id',
          'id as action_id',
          sql<string>`${at}`.as('at'),
          sql<string>`${'server'}`.as('source'),
          sql<string>`${'cancel_requested'}`.as('status'),
          sql<null>`NULL`.as('progress'),
          sql<string>`${'CAMPAIGN_CANCELLED'}`.as('code'),
          sql<string>`${'the campaign was cancelled'}`.as('message'),
          sql<null>`NULL`.as('report_id'),
          sql<string | null>`${actorId}`.as('actor_id'),
        ]),
      )
      .execute();
  }
  await trx
    .updateTable('campaign_targets')
    .set({ status: 'cancelled', updated_at: at })
    .where('tenant_id', '=', tenantId)
    .where('campaign_id', '=', campaignId)
    .where('status', '=', 'scheduled')
    .execute();
  return devices;
}

/** The tenant's campaign settings row, if it has one. */
export async function findCampaignSettings(
  db: Db,
  tenantId: string,
): Promise<{ approval_required: number } | undefined> {
  return db
    .selectFrom('campaign_settings')
    .select('approval_required')
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
}

/** Writes the tenant's campaign settings (insert or update). */
export async function saveCampaignSettings(
  trx: Transaction<Database>,
  tenantId: string,
  approvalRequired: boolean,
  at: string,
): Promise<void> {
  await trx
    .insertInto('campaign_settings')
    .values({ tenant_id: tenantId, approval_required: approvalRequired ? 1 : 0, updated_at: at })
    .onConflict((oc) =>
      oc
        .column('tenant_id')
        .doUpdateSet({ approval_required: approvalRequired ? 1 : 0, updated_at: at }),
    )
    .execute();
}

/** Failed and rejected targets grouped by code, most frequent first, with example devices. */
export interface FailureReason {
  readonly code: string;
  readonly count: number;
  /** The example devices' names (kept for the CLI and scripts; the same devices as `examples`). */
  readonly devices: string[];
  /** The example devices with their ids, so a client can link to them. */
  readonly examples: { readonly id: string; readonly name: string }[];
}

/**
 * The campaign's failure reasons: one GROUP BY over its failed and rejected targets (a target
 * without a code counts as `UNKNOWN`), the `maxCodes` most frequent, then for each of those up to
 * `examples` devices (id and name) in rank order (the same ones each time): one short index range read
 * per code (`campaign_targets_code`), so the cost does not grow with the failures.
 */
export async function failureReasons(
  db: Db,
  campaignId: string,
  maxCodes: number,
  examples: number,
): Promise<FailureReason[]> {
  const code = sql<string>`COALESCE(code, 'UNKNOWN')`;
  const groups = await db
    .selectFrom('campaign_targets')
    .select([code.as('code'), (eb) => eb.fn.countAll<number>().as('n')])
    .where('campaign_id', '=', campaignId)
    .where('status', 'in', [...ERROR_TARGET_STATUSES])
    .groupBy(code)
    .orderBy((eb) => eb.fn.countAll(), 'desc')
    .orderBy(code)
    .limit(maxCodes)
    .execute();
  const examplesOf = async (reason: string) => {
    const rows = await db
      .selectFrom('campaign_targets as t')
      .innerJoin('devices as d', 'd.id', 't.device_id')
      .select(['d.id', 'd.name'])
      .where('t.campaign_id', '=', campaignId)
      .where((eb) =>
        eb.or([
          eb('t.code', '=', reason),
          ...(reason === 'UNKNOWN' ? [eb('t.code', 'is', null)] : []),
        ]),
      )
      .where('t.status', 'in', [...ERROR_TARGET_STATUSES])
      .orderBy('t.rank')
      .limit(examples)
      .execute();
    return rows.map((r) => ({ id: r.id, name: r.name }));
  };
  return Promise.all(
    groups.map(async (g) => {
      const examples = await examplesOf(g.code);
      return {
        code: g.code,
        count: Number(g.n),
        devices: examples.map((e) => e.name),
        examples,
      };
    }),
  );
}

/** Bytes delta patches saved delivering the campaign's actions (through its targets' action ids). */
export async function campaignBytesSaved(
  db: Db,
  tenantId: string,
  campaignId: string,
): Promise<number> {
  const row = await db
    .selectFrom('delta_deliveries')
    .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('bytes_saved'), eb.lit(0)).as('saved'))
    .where('tenant_id', '=', tenantId)
    .where('action_id', 'in', (eb) =>
      eb
        .selectFrom('campaign_targets')
        .select('action_id')
        .where('campaign_id', '=', campaignId)
        .where('action_id', 'is not', null)
        .$narrowType<{ action_id: string }>(),
    )
    .executeTakeFirstOrThrow();
  return Number(row.saved);
}

/** The campaign's progress samples, oldest first: the latest `limit` of them. */
export async function campaignSamples(
  db: Db,
  tenantId: string,
  campaignId: string,
  limit: number,
): Promise<{ at: string; counts: string }[]> {
  const rows = await db
    .selectFrom('campaign_samples')
    .select(['at', 'counts'])
    .where('tenant_id', '=', tenantId)
    .where('campaign_id', '=', campaignId)
    .orderBy('at', 'desc')
    .limit(limit)
    .execute();
  return rows.reverse();
}

/** A target as the API lists it (with its device's name). */
export type TargetRow = Pick<
  CampaignTargetTable,
  'device_id' | 'rank' | 'phase' | 'action_id' | 'status' | 'code' | 'joined_at' | 'updated_at'
> & { device_name: string };

/** Filters and page of {@link listTargets}. */
export interface TargetQuery {
  readonly status?: string | undefined;
  readonly phase?: number | undefined;
  readonly limit: number;
  /** `<rank>.<device id>` of the last target of the previous page. */
  readonly after?: { rank: string; deviceId: string } | undefined;
}

/** The campaign's targets in rank order (the order they enter phases), keyset paged. */
export async function listTargets(
  db: Db,
  tenantId: string,
  campaignId: string,
  query: TargetQuery,
): Promise<TargetRow[]> {
  let q = db
    .selectFrom('campaign_targets as t')
    .innerJoin('devices as d', 'd.id', 't.device_id')
    .select([
      't.device_id',
      't.rank',
      't.phase',
      't.action_id',
      't.status',
      't.code',
      't.joined_at',
      't.updated_at',
      'd.name as device_name',
    ])
    .where('t.tenant_id', '=', tenantId)
    .where('t.campaign_id', '=', campaignId);
  if (query.status !== undefined) q = q.where('t.status', '=', query.status);
  if (query.phase !== undefined) q = q.where('t.phase', '=', query.phase);
  const after = query.after;
  if (after !== undefined) {
    q = q.where((eb) =>
      eb.or([
        eb('t.rank', '>', after.rank),
        eb.and([eb('t.rank', '=', after.rank), eb('t.device_id', '>', after.deviceId)]),
      ]),
    );
  }
  return q.orderBy('t.rank').orderBy('t.device_id').limit(query.limit).execute();
}
