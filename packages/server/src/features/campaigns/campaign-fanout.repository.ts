import { type Expression, type Kysely, type SqlBool, sql, type Transaction } from 'kysely';
import type { Database } from '../../db/database.js';
import type { DialectSupport } from '../../db/dialect-support.js';
import { filterCondition, type ResolvedFilter } from '../filters/filter.repository.js';
import type { CampaignPhaseTable, CampaignTable } from './campaign.table.js';
import type { TargetStatus } from './campaign-states.js';
import './campaign.table.js';
import '../actions/action.table.js';
import '../devices/device.table.js';

/**
 * All of the campaign engine's SQL (docs/campaigns.md, "The engine"). Every statement is
 * set-based (INSERT … SELECT, UPDATE … WHERE) and idempotent: running it again right after
 * changes nothing. Timestamps are ISO strings and compare as text.
 */

type Db = Kysely<Database> | Transaction<Database>;

/** What the engine needs of the campaign's release. */
export interface CampaignRelease {
  readonly id: string;
  readonly deviceClassId: string;
  readonly sequenceNumber: number;
  /** The release's component ids (a device "runs the release" per these components). */
  readonly componentIds: readonly string[];
}

/** Codes a target is `skipped` or `failed` with by the engine (docs/campaigns.md). */
export const TARGET_CODES = {
  upToDate: 'ALREADY_UP_TO_DATE',
  decommissioned: 'DEVICE_DECOMMISSIONED',
  classChanged: 'DEVICE_CLASS_CHANGED',
  reverted: 'DEVICE_REVERTED',
  silent: 'DEVICE_SILENT',
} as const;

// Text parameters are cast: PostgreSQL cannot type a bare parameter in a SELECT list or `||`.
const text = (value: string | null) => sql<string>`CAST(${value} AS text)`;
const int = (value: number) => sql<number>`CAST(${value} AS integer)`;

/** Campaigns the tick looks at: running ones, and others whose targets still await health. */
export async function campaignsToStep(
  db: Db,
): Promise<{ id: string; tenant_id: string; state: string }[]> {
  return db
    .selectFrom('campaigns as c')
    .select(['c.id', 'c.tenant_id', 'c.state'])
    .where((eb) =>
      eb.or([
        eb('c.state', '=', 'running'),
        eb.and([
          eb('c.state', 'in', ['paused', 'finished']),
          eb.exists(
            eb
              .selectFrom('campaign_targets as t')
              .select(sql`1`.as('one'))
              .whereRef('t.campaign_id', '=', 'c.id')
              .where('t.status', '=', 'confirming'),
          ),
        ]),
      ]),
    )
    .orderBy('c.id')
    .execute();
}

/** Scheduled campaigns whose start time came (at or before `now`). */
export async function dueScheduledCampaigns(db: Db, now: string): Promise<string[]> {
  const rows = await db
    .selectFrom('campaigns')
    .select('id')
    .where('state', '=', 'scheduled')
    .where('start_at', '<=', now)
    .orderBy('id')
    .execute();
  return rows.map((r) => r.id);
}

/**
 * The campaign's row, locked for this transaction. On PostgreSQL `FOR UPDATE SKIP LOCKED`:
 * undefined when another replica holds it (it is working on the campaign; we skip, not wait).
 */
export async function lockCampaign(
  trx: Transaction<Database>,
  support: DialectSupport,
  campaignId: string,
): Promise<CampaignTable | undefined> {
  return trx
    .selectFrom('campaigns')
    .selectAll()
    .where('id', '=', campaignId)
    .$if(support.supportsSkipLocked, (q) => q.forUpdate().skipLocked())
    .executeTakeFirst();
}

/** The campaign's phases in order. */
export async function campaignPhases(db: Db, campaignId: string): Promise<CampaignPhaseTable[]> {
  return db
    .selectFrom('campaign_phases')
    .selectAll()
    .where('campaign_id', '=', campaignId)
    .orderBy('idx')
    .execute();
}

/** Sets columns of the campaign (and bumps its revision, as every change does). */
export async function updateCampaign(
  trx: Transaction<Database>,
  campaign: Pick<CampaignTable, 'id'>,
  change: Partial<
    Pick<
      CampaignTable,
      'state' | 'state_reason' | 'current_phase' | 'materialised_at' | 'finished_at' | 'started_at'
    >
  >,
  at: string,
): Promise<void> {
  await trx
    .updateTable('campaigns')
    .set((eb) => ({ ...change, updated_at: at, revision: eb('revision', '+', 1) }))
    .where('id', '=', campaign.id)
    .execute();
}

/** Sets columns of one phase. */
export async function updatePhase(
  trx: Transaction<Database>,
  campaignId: string,
  idx: number,
  change: Partial<Pick<CampaignPhaseTable, 'state' | 'started_at' | 'passed_at'>>,
): Promise<void> {
  await trx
    .updateTable('campaign_phases')
    .set(change)
    .where('campaign_id', '=', campaignId)
    .where('idx', '=', idx)
    .execute();
}

/** The device (as `devices`) runs the release or newer for one of its components. */
function runsReleaseOrNewer(
  release: CampaignRelease,
  device: Expression<string>,
): Expression<SqlBool> {
  if (release.componentIds.length === 0) return sql<SqlBool>`1 = 0`;
  return sql<SqlBool>`EXISTS (SELECT 1 FROM device_components dc WHERE dc.device_id = ${device}
    AND dc.component_id IN (${sql.join(release.componentIds)})
    AND dc.sequence_number >= ${release.sequenceNumber})`;
}

/**
 * Adds the devices the campaign reaches as `scheduled` targets, ranked by
 * md5(campaign id ':' device id): the tenant's devices of the release's class, not
 * decommissioned, matching the filter, not already running the release or newer. With
 * `onlyNew` (continuous admission) devices already targeted are left out; the first
 * materialisation inserts into an empty set. With `phase`, they enter that phase on joining
 * (it takes every target; saves rewriting every row at once). Answers how many joined.
 */
export async function materialiseTargets(
  trx: Transaction<Database>,
  campaign: Pick<CampaignTable, 'id' | 'tenant_id'>,
  release: CampaignRelease,
  filter: ResolvedFilter,
  at: string,
  onlyNew: boolean,
  /** The phase joiners enter at once (one that takes every target), else null. */
  phase: number | null = null,
): Promise<number> {
  const select = trx
    .selectFrom('devices')
    .select([
      'devices.tenant_id',
      text(campaign.id).as('campaign_id'),
      'devices.id',
      sql<string>`md5(${text(`${campaign.id}:`)} || devices.id)`.as('rank'),
      sql<string>`'scheduled'`.as('status'),
      sql<number | null>`CAST(${phase} AS integer)`.as('phase'),
      text(at).as('joined_at'),
      text(at).as('updated_at'),
    ])
    .where('devices.tenant_id', '=', campaign.tenant_id)
    .where('devices.device_class_id', '=', release.deviceClassId)
    .where('devices.decommissioned_at', 'is', null)
    .where(filterCondition(campaign.tenant_id, filter))
    .where((eb) => eb.not(runsReleaseOrNewer(release, eb.ref('devices.id'))))
    .$if(onlyNew, (q) =>
      q.where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom('campaign_targets as t')
              .select(sql`1`.as('one'))
              .where('t.campaign_id', '=', campaign.id)
              .whereRef('t.device_id', '=', 'devices.id'),
          ),
        ),
      ),
    );
  const result = await trx
    .insertInto('campaign_targets')
    .columns([
      'tenant_id',
      'campaign_id',
      'device_id',
      'rank',
      'status',
      'phase',
      'joined_at',
      'updated_at',
    ])
    .expression(select)
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0n);
}

/** A waiting target's place in the fan-out order: (phase, device id). */
export interface TargetKey {
  readonly phase: number;
  readonly deviceId: string;
}

/** The waiting targets after `after` (null: from the first) up to and with `upTo` (null: to the last). */
export interface WaitingRange {
  readonly after: TargetKey | null;
  readonly upTo: TargetKey | null;
}

const WHOLE_RANGE: WaitingRange = { after: null, upTo: null };

/**
 * `alias`'s (phase, device_id) lies in `range` and its phase is at most `currentPhase`, all as
 * row values, so SQLite and PostgreSQL walk the campaign_targets_waiting index range (a separate
 * `phase <= n` makes SQLite scan the phase's every target instead).
 */
function inRange(alias: string, range: WaitingRange, currentPhase: number): Expression<SqlBool> {
  const key = sql`(${sql.ref(`${alias}.phase`)}, ${sql.ref(`${alias}.device_id`)})`;
  // Bare parameters: SQLite walks the index by a row value only without CASTs (PostgreSQL
  // types each from its column).
  const value = (k: TargetKey) => sql`(${k.phase}, ${k.deviceId})`;
  const upper = range.upTo
    ? sql`${key} <= ${value(range.upTo)}`
    : sql`${key} < ${value({ phase: currentPhase + 1, deviceId: '' })}`;
  return range.after
    ? sql<SqlBool>`${key} > ${value(range.after)} AND ${upper}`
    : sql<SqlBool>`${upper}`;
}

/**
 * The next batch of waiting targets of phases up to `currentPhase`, after `after`, in (phase,
 * device id) order (the campaign_targets_waiting index): the range covering `batch` of them, and
 * whether more follow it (`upTo` is then the batch's last key; otherwise it is open-ended).
 */
export async function waitingBatch(
  trx: Transaction<Database>,
  campaignId: string,
  currentPhase: number,
  after: TargetKey | null,
  batch: number,
): Promise<{ range: WaitingRange; more: boolean }> {
  const last = await trx
    .selectFrom('campaign_targets')
    .select(['phase', 'device_id'])
    .where('campaign_id', '=', campaignId)
    .where('status', '=', 'scheduled')
    .where('action_id', 'is', null)
    .where(inRange('campaign_targets', { after, upTo: null }, currentPhase))
    .orderBy('phase')
    .orderBy('device_id')
    .limit(1)
    .offset(batch - 1)
    .executeTakeFirst();
  if (last === undefined || last.phase === null)
    return { range: { after, upTo: null }, more: false };
  return {
    range: { after, upTo: { phase: Number(last.phase), deviceId: last.device_id } },
    more: true,
  };
}

/**
 * Waiting targets (no action yet) of phases up to `currentPhase` that can no longer take the
 * release become `skipped`: the device got to the release or newer, was decommissioned, or
 * moved to another class. Run right before the fan-out, it covers exactly the targets the
 * fan-out would give an action (not the campaign's whole waiting set, which may be millions).
 * Answers how many were skipped.
 */
export async function skipTargets(
  trx: Transaction<Database>,
  campaignId: string,
  release: CampaignRelease,
  currentPhase: number,
  at: string,
  range: WaitingRange = WHOLE_RANGE,
): Promise<number> {
  // One pass, the first reason that applies as the code.
  const device = sql.ref<string>('campaign_targets.device_id');
  const decommissioned = sql<SqlBool>`EXISTS (SELECT 1 FROM devices d WHERE d.id = ${device}
    AND d.decommissioned_at IS NOT NULL)`;
  const classChanged = sql<SqlBool>`EXISTS (SELECT 1 FROM devices d WHERE d.id = ${device}
    AND d.device_class_id <> ${release.deviceClassId})`;
  const upToDate = runsReleaseOrNewer(release, device);
  const result = await trx
    .updateTable('campaign_targets')
    .set({
      status: 'skipped',
      code: sql<string>`CASE WHEN ${decommissioned} THEN ${text(TARGET_CODES.decommissioned)}
        WHEN ${classChanged} THEN ${text(TARGET_CODES.classChanged)}
        ELSE ${text(TARGET_CODES.upToDate)} END`,
      updated_at: at,
    })
    .where('campaign_id', '=', campaignId)
    .where('status', '=', 'scheduled')
    .where('action_id', 'is', null)
    .where(inRange('campaign_targets', range, currentPhase))
    .where((eb) => eb.or([decommissioned, classChanged, upToDate]))
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/**
 * Health gating of `confirming` targets: a device that reports an older sequence number for a
 * component of the release → `failed` DEVICE_REVERTED; one seen at or after its soak ended →
 * `succeeded`; one still unproven at `silent_after` → `failed` DEVICE_SILENT.
 */
export async function gateHealth(
  trx: Transaction<Database>,
  campaignId: string,
  release: CampaignRelease,
  now: string,
): Promise<void> {
  const confirming = () =>
    trx
      .updateTable('campaign_targets')
      .where('campaign_id', '=', campaignId)
      .where('status', '=', 'confirming');
  const device = sql.ref<string>('campaign_targets.device_id');
  if (release.componentIds.length > 0) {
    await confirming()
      .set({ status: 'failed', code: TARGET_CODES.reverted, updated_at: now })
      .where(sql<SqlBool>`EXISTS (SELECT 1 FROM device_components dc WHERE dc.device_id = ${device}
        AND dc.component_id IN (${sql.join(release.componentIds)})
        AND dc.sequence_number < ${release.sequenceNumber})`)
      .execute();
  }
  await confirming()
    .set({ status: 'succeeded', updated_at: now })
    .where(sql<SqlBool>`EXISTS (SELECT 1 FROM devices d WHERE d.id = ${device}
      AND d.last_seen_at >= campaign_targets.healthy_after)`)
    .execute();
  await confirming()
    .set({ status: 'failed', code: TARGET_CODES.silent, updated_at: now })
    .where('silent_after', '<=', now)
    .execute();
}

/**
 * Puts the next `count` waiting targets (rank order; only those matching the phase's filter,
 * when it has one) into phase `idx`. With `all` (the count covers every waiting target and the
 * phase has no filter) it is one plain UPDATE, no ordering needed. Answers how many it took
 * (all were `scheduled` without a phase).
 */
export async function takeTargets(
  trx: Transaction<Database>,
  campaign: Pick<CampaignTable, 'id' | 'tenant_id'>,
  idx: number,
  count: number,
  phaseFilter: ResolvedFilter | undefined,
  at: string,
  all = false,
): Promise<number> {
  if (count <= 0) return 0;
  const update = trx
    .updateTable('campaign_targets')
    .set({ phase: idx, updated_at: at })
    .where('campaign_id', '=', campaign.id);
  if (all && phaseFilter === undefined) {
    const result = await update
      .where('phase', 'is', null)
      .where('status', '=', 'scheduled')
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }
  // Ordered by the (campaign_id, phase, rank) index; the devices join only for a phase filter.
  const next = phaseFilter
    ? trx
        .selectFrom('campaign_targets as t')
        .innerJoin('devices', 'devices.id', 't.device_id')
        .select('t.device_id')
        .where('t.campaign_id', '=', campaign.id)
        .where('t.phase', 'is', null)
        .where('t.status', '=', 'scheduled')
        // The compiled filter refers to `devices`, which the join provides.
        .where(filterCondition(campaign.tenant_id, phaseFilter) as never)
        .orderBy('t.rank')
        .limit(count)
    : trx
        .selectFrom('campaign_targets as t')
        .select('t.device_id')
        .where('t.campaign_id', '=', campaign.id)
        .where('t.phase', 'is', null)
        .where('t.status', '=', 'scheduled')
        .orderBy('t.rank')
        .limit(count);
  const result = await update.where('device_id', 'in', next).executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/**
 * The action id of a campaign's target: `act_<campaign id without its prefix>_<device id>`,
 * unique per campaign and device by construction. Not a hash: the fan-out walks a batch's targets
 * in device-id order, so its actions' keys are one contiguous run in every index they enter
 * instead of pages scattered all over it (random keys made each batch rewrite most index pages).
 */
const actionIdOfTarget = sql<string>`'act_' || substr(t.campaign_id, 5) || '_' || t.device_id`;

/**
 * Gives every waiting target of phases up to `currentPhase` (in `range`) its action, unless its device has an
 * open action (that one wins; the target waits for a later pass): one INSERT … SELECT into
 * actions, their `assigned` events, then the targets become `pending`. Answers how many actions
 * were created.
 *
 * "Unless its device has an open action" is the UNIQUE (tenant_id, open_key) with `ON CONFLICT
 * DO NOTHING` (as is one action per campaign and device), not a NOT EXISTS: PostgreSQL plans a
 * NOT EXISTS over the table being inserted into from its size before the statement, and on a
 * nearly empty actions table picks a sequential scan per row (quadratic: minutes at 100,000).
 */
export async function fanOut(
  trx: Transaction<Database>,
  campaign: Pick<
    CampaignTable,
    'id' | 'tenant_id' | 'action_type' | 'force_after' | 'recurring_window'
  >,
  releaseId: string,
  currentPhase: number,
  at: string,
  range: WaitingRange = WHOLE_RANGE,
): Promise<number> {
  const inserted = await sql`
    INSERT INTO actions (id, tenant_id, device_id, release_id, state, cancel_requested,
      download_only, action_type, force_after, recurring_window, maintenance_window, campaign_id,
      open_key, revision, created_at, created_by, updated_at)
    SELECT ${actionIdOfTarget}, t.tenant_id, t.device_id, ${text(releaseId)}, 'assigned', 0,
      ${int(campaign.action_type === 'download-only' ? 1 : 0)}, ${text(campaign.action_type)},
      ${text(campaign.force_after)}, ${text(campaign.recurring_window)}, ${text(null)},
      t.campaign_id, t.device_id, 1, ${text(at)}, ${text(null)}, ${text(at)}
    FROM campaign_targets t
    WHERE t.campaign_id = ${campaign.id} AND t.status = 'scheduled' AND t.action_id IS NULL
      AND ${inRange('t', range, currentPhase)}
    ON CONFLICT DO NOTHING`.execute(trx);
  const created = Number(inserted.numAffectedRows ?? 0);
  if (created === 0) return 0;
  const t = sql.ref('t');
  const waiting = sql<SqlBool>`t.campaign_id = ${campaign.id} AND t.status = 'scheduled'
    AND t.action_id IS NULL AND ${inRange('t', range, currentPhase)}`;
  // Every waiting target in the range got its action (the common case: no device had an open
  // action elsewhere): events and target updates need not look each action up.
  const { rows } = await sql<{ n: number | string }>`
    SELECT count(*) AS n FROM campaign_targets ${t} WHERE ${waiting}`.execute(trx);
  const everyone = Number(rows[0]?.n ?? 0) === created;
  const stamp = text(at.replaceAll(/[-:.TZ]/g, ''));
  // Event ids sort by time like action.repository's (`evt_<timestamp>_<16 chars>`), unique per
  // action through the target's rank (md5 of campaign and device).
  // Both driven from the targets that were waiting (the campaign_targets_waiting range): the
  // cost follows the targets given an action now, not the campaign's size. The event id is
  // derived from the time and the action, so a second pass at the same time conflicts instead of
  // writing it twice. When some insert conflicted, each target is joined to its new action.
  if (everyone) {
    await sql`
      INSERT INTO action_events (id, tenant_id, action_id, at, source, status)
      SELECT 'evt_' || ${stamp} || '_' || substr(t.rank, 1, 16), t.tenant_id, ${actionIdOfTarget},
        ${text(at)}, 'server', 'assigned'
      FROM campaign_targets t WHERE ${waiting}
      ON CONFLICT DO NOTHING`.execute(trx);
    await sql`
      UPDATE campaign_targets AS t SET action_id = ${actionIdOfTarget}, status = 'pending',
        updated_at = ${at}
      WHERE ${waiting}`.execute(trx);
    return created;
  }
  await sql`
    INSERT INTO action_events (id, tenant_id, action_id, at, source, status)
    SELECT 'evt_' || ${stamp} || '_' || substr(t.rank, 1, 16),
      a.tenant_id, a.id, ${text(at)}, 'server', 'assigned'
    FROM campaign_targets t
    JOIN actions a ON a.id = ${actionIdOfTarget}
    WHERE ${waiting} AND a.created_at = ${at}
    ON CONFLICT DO NOTHING`.execute(trx);
  await sql`
    UPDATE campaign_targets AS t SET action_id = a.id, status = 'pending', updated_at = ${at}
    FROM actions a
    WHERE ${waiting} AND a.id = ${actionIdOfTarget} AND a.created_at = ${at}`.execute(trx);
  return created;
}

/** The campaign's newest progress sample, if any. */
export async function latestSample(
  db: Db,
  campaignId: string,
): Promise<{ at: string; counts: string } | undefined> {
  return db
    .selectFrom('campaign_samples')
    .select(['at', 'counts'])
    .where('campaign_id', '=', campaignId)
    .orderBy('at', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/** Appends a progress sample. */
export async function insertSample(
  trx: Transaction<Database>,
  campaign: Pick<CampaignTable, 'id' | 'tenant_id'>,
  at: string,
  counts: string,
): Promise<void> {
  await trx
    .insertInto('campaign_samples')
    .values({ tenant_id: campaign.tenant_id, campaign_id: campaign.id, at, counts })
    .execute();
}

/**
 * A campaign action changed state (a device report): its target follows, in the report's
 * transaction. `success` starts the health gate (`confirming` until the device checks in after
 * `at + soak`, failed as silent after `at + soak + healthTimeout`), or is `succeeded` at once
 * when the campaign has no soak. `code` is kept for failures, rejections and cancellations.
 */
export async function followActionState(
  trx: Transaction<Database>,
  action: { readonly id: string; readonly campaignId: string; readonly deviceId: string },
  status: TargetStatus,
  code: string | null,
  at: string,
): Promise<void> {
  let healthyAfter: string | null = null;
  let silentAfter: string | null = null;
  let next = status;
  if (status === 'confirming') {
    const c = await trx
      .selectFrom('campaigns')
      .select(['soak_seconds', 'health_timeout_seconds'])
      .where('id', '=', action.campaignId)
      .executeTakeFirst();
    const soak = Number(c?.soak_seconds ?? 0);
    if (soak <= 0) next = 'succeeded';
    else {
      const from = Date.parse(at);
      healthyAfter = new Date(from + soak * 1000).toISOString();
      silentAfter = new Date(
        from + (soak + Number(c?.health_timeout_seconds ?? 0)) * 1000,
      ).toISOString();
    }
  }
  const keepsCode = next === 'failed' || next === 'rejected' || next === 'cancelled';
  await trx
    .updateTable('campaign_targets')
    .set({
      status: next,
      code: keepsCode ? code : null,
      healthy_after: healthyAfter,
      silent_after: silentAfter,
      updated_at: at,
    })
    .where('campaign_id', '=', action.campaignId)
    .where('device_id', '=', action.deviceId)
    .where('action_id', '=', action.id)
    .execute();
}

/** Campaign actions closed by the server (a revoked signing key): their targets are `cancelled`. */
export async function cancelTargetsOfActions(
  trx: Transaction<Database>,
  actionIds: readonly string[],
  code: string,
  at: string,
): Promise<void> {
  for (let i = 0; i < actionIds.length; i += 500) {
    await trx
      .updateTable('campaign_targets')
      .set({ status: 'cancelled', code, updated_at: at })
      .where('action_id', 'in', actionIds.slice(i, i + 500))
      .execute();
  }
}
