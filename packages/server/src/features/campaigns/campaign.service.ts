import type { ActionType, RecurringMaintenanceWindow } from '@updraft/core';
import type { Kysely, Transaction } from 'kysely';
import { newId } from '../../auth/secrets.js';
import type { Database } from '../../db/database.js';
import type { DeviceChangeFeed } from '../../db/device-changes.js';
import { ServerError } from '../../errors.js';
import { NO_PUSH, type PushNotices } from '../../mqtt/push-notifier.js';
import { resolveActionSchedule } from '../actions/action-schedule.js';
import { appendAudit } from '../audit/audit.repository.js';
import type { DeviceFilterService } from '../filters/device-filter.service.js';
import { findRelease } from '../releases/release.repository.js';
import type { ChangeContext } from '../releases/release.service.js';
import type { WebhookPublisher } from '../webhooks/webhook-outbox.js';
import {
  acknowledgePhaseErrors,
  type CampaignQuery,
  campaignBytesSaved,
  campaignSamples,
  cancelCampaignWork,
  type FailureReason,
  failureReasons,
  findCampaign,
  findCampaignSettings,
  insertCampaign,
  listCampaigns,
  listTargets,
  phasesOf,
  replacePhases,
  saveCampaignSettings,
  type TargetQuery,
  updateCampaign,
} from './campaign.repository.js';
import type { CampaignPhaseTable, CampaignTable } from './campaign.table.js';
import type { CampaignEngineHandle } from './campaign-engine-port.js';
import { recordCampaignEvent } from './campaign-events.js';
import {
  type CampaignOperation,
  type CampaignState,
  type CampaignType,
  canApply,
  type PhaseState,
  type StateReason,
  type TargetStatus,
} from './campaign-states.js';
import { campaignCounts, emptyCounts, type TargetCounts } from './campaign-stats.repository.js';

/** `{ percent }`: more than that share of a phase's targets failed; `{ count }`: at least that many. */
export type ErrorThreshold = { readonly percent: number } | { readonly count: number };

/** Defaults of docs/campaigns.md. */
export const CAMPAIGN_DEFAULTS = {
  successThreshold: 95,
  errorThreshold: { percent: 10 } as ErrorThreshold,
  soakSeconds: 0,
  healthTimeoutSeconds: 1800,
  actionType: 'soft' as ActionType,
} as const;

/** Bounds of docs/campaigns.md ("Limits"), shared by the route schemas. */
export const CAMPAIGN_LIMITS = {
  nameLength: 128,
  phases: 20,
  phaseCount: 10_000_000,
  soakSeconds: 30 * 24 * 3600,
  healthTimeoutSeconds: { min: 60, max: 30 * 24 * 3600 },
  /** Failure reasons in a status document, and example devices per reason. */
  failureCodes: 20,
  failureExamples: 5,
} as const;

/** A phase as given to create or edit (sizes and thresholds as the API takes them). */
export interface PhaseInput {
  readonly percent?: number | undefined;
  readonly count?: number | undefined;
  readonly filter?: string | undefined;
  readonly successThreshold?: number | undefined;
  readonly errorThreshold?: ErrorThreshold | undefined;
  readonly manualGate?: boolean | undefined;
}

/** A create body (PATCH takes the same fields, all optional). */
export interface CampaignInput {
  readonly name: string;
  readonly releaseId: string;
  readonly filter: string;
  readonly type?: CampaignType | undefined;
  readonly phases?: readonly PhaseInput[] | undefined;
  readonly successThreshold?: number | undefined;
  readonly errorThreshold?: ErrorThreshold | undefined;
  readonly soakSeconds?: number | undefined;
  readonly healthTimeoutSeconds?: number | undefined;
  readonly actionType?: ActionType | undefined;
  readonly forceAfter?: string | null | undefined;
  readonly recurringWindow?: RecurringMaintenanceWindow | null | undefined;
}

/** One phase as the API shows it. */
export interface CampaignPhase {
  readonly index: number;
  readonly percent: number | null;
  readonly count: number | null;
  readonly filter: string | null;
  readonly successThreshold: number;
  readonly errorThreshold: ErrorThreshold;
  readonly manualGate: boolean;
  readonly state: PhaseState;
  readonly startedAt: string | null;
  readonly passedAt: string | null;
}

/** The last review since the last edit. */
export interface CampaignReview {
  readonly decision: 'approved' | 'rejected';
  readonly by: string | null;
  readonly at: string;
  readonly comment: string | null;
}

/** A campaign as the API shows it (docs/campaigns.md). */
export interface Campaign {
  readonly id: string;
  readonly name: string;
  readonly releaseId: string;
  readonly filter: string;
  readonly type: CampaignType;
  readonly state: CampaignState;
  readonly stateReason: StateReason | null;
  readonly actionType: ActionType;
  readonly forceAfter: string | null;
  readonly recurringWindow: RecurringMaintenanceWindow | null;
  readonly successThreshold: number;
  readonly errorThreshold: ErrorThreshold;
  readonly soakSeconds: number;
  readonly healthTimeoutSeconds: number;
  readonly currentPhase: number;
  readonly phases: CampaignPhase[];
  readonly startAt: string | null;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly review: CampaignReview | null;
  readonly revision: number;
  readonly createdBy: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** The status document (`GET /campaigns/{id}/status`, the `progress` event). */
export interface CampaignStatus {
  readonly id: string;
  readonly state: CampaignState;
  readonly stateReason: StateReason | null;
  readonly currentPhase: number;
  readonly phases: { index: number; state: PhaseState; size: number; counts: TargetCounts }[];
  readonly totals: TargetCounts;
  readonly failureReasons: FailureReason[];
  readonly bytesSaved: number;
}

/** One target as the API lists it. */
export interface CampaignTarget {
  readonly deviceId: string;
  readonly deviceName: string;
  readonly status: TargetStatus;
  readonly code: string | null;
  readonly phase: number | null;
  readonly actionId: string | null;
  readonly joinedAt: string;
  readonly updatedAt: string;
}

/** A page of a keyset-paged list. */
export interface Page<T> {
  readonly items: T[];
  /** Pass as `cursor` for the next page; null on the last one. */
  readonly nextCursor: string | null;
}

/** The tenant's campaign settings. */
export interface CampaignSettings {
  readonly approvalRequired: boolean;
}

/** Who asks, from where (audit). A management call always has a user. */
export type CampaignContext = ChangeContext & { readonly actorId: string };

function errorThresholdOf(percent: number | null, count: number | null): ErrorThreshold {
  if (count !== null) return { count: Number(count) };
  return { percent: percent === null ? 10 : Number(percent) };
}

function parseErrorThreshold(json: string | null | undefined): ErrorThreshold {
  return json ? (JSON.parse(json) as ErrorThreshold) : CAMPAIGN_DEFAULTS.errorThreshold;
}

function toPhase(row: CampaignPhaseTable): CampaignPhase {
  return {
    index: Number(row.idx),
    percent: row.size_percent === null ? null : Number(row.size_percent),
    count: row.size_count === null ? null : Number(row.size_count),
    filter: row.filter,
    successThreshold: Number(row.success_threshold),
    errorThreshold: errorThresholdOf(row.error_threshold_percent, row.error_threshold_count),
    manualGate: Number(row.manual_gate) === 1,
    state: row.state as PhaseState,
    startedAt: row.started_at,
    passedAt: row.passed_at,
  };
}

/** A campaign row and its phase rows in the API shape. */
export function toCampaign(row: CampaignTable, phases: readonly CampaignPhaseTable[]): Campaign {
  return {
    id: row.id,
    name: row.name,
    releaseId: row.release_id,
    filter: row.filter,
    type: row.type as CampaignType,
    state: row.state as CampaignState,
    stateReason: row.state_reason as StateReason | null,
    actionType: row.action_type as ActionType,
    forceAfter: row.force_after,
    recurringWindow:
      row.recurring_window === null
        ? null
        : (JSON.parse(row.recurring_window) as RecurringMaintenanceWindow),
    successThreshold:
      row.success_threshold == null
        ? CAMPAIGN_DEFAULTS.successThreshold
        : Number(row.success_threshold),
    errorThreshold: parseErrorThreshold(row.error_threshold),
    soakSeconds: Number(row.soak_seconds),
    healthTimeoutSeconds: Number(row.health_timeout_seconds),
    currentPhase: Number(row.current_phase),
    phases: phases.map(toPhase),
    startAt: row.start_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    review:
      row.review_decision === null || row.review_at === null
        ? null
        : {
            decision: row.review_decision as CampaignReview['decision'],
            by: row.review_by,
            at: row.review_at,
            comment: row.review_comment,
          },
    revision: Number(row.revision),
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

// A state change that lost its optimistic write to a concurrent one is tried this often in all.
const STATE_CHANGE_ATTEMPTS = 5;

/**
 * Campaign management (docs/campaigns.md): create and edit drafts, the four-eyes review, and the
 * operator's state changes. Each change is one transaction with its event-log entry (which
 * queues the webhook) and its audit entry; the campaign row is written optimistically on its
 * revision, so a concurrent change (another operator, the engine) makes this one fail with
 * `CAMPAIGN_CHANGED` rather than overwrite it. The engine does the rollout itself; it is only
 * poked here after a commit that gives it work. All SQL is in `campaign.repository.ts`.
 */
export class CampaignService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => Date,
    private readonly filters: DeviceFilterService,
    private readonly events: WebhookPublisher,
    private readonly engine: CampaignEngineHandle,
    /** Told, after a cancel commits, which devices' actions changed (check-in caches). */
    private readonly changes: Pick<DeviceChangeFeed, 'announce'>,
    /** Push notices to the campaign's devices, after the commit. */
    private readonly push: PushNotices = NO_PUSH,
  ) {}

  /** The tenant's campaign settings (no row: approval required). */
  async settings(tenantId: string): Promise<CampaignSettings> {
    const row = await findCampaignSettings(this.db, tenantId);
    return { approvalRequired: row === undefined || Number(row.approval_required) === 1 };
  }

  /** Changes the tenant's campaign settings; answers them as they are now. */
  async setSettings(ctx: CampaignContext, settings: CampaignSettings): Promise<CampaignSettings> {
    const at = this.now().toISOString();
    await this.db.transaction().execute(async (trx) => {
      await saveCampaignSettings(trx, ctx.tenantId, settings.approvalRequired, at);
      await this.#audit(trx, ctx, at, 'campaign.settings', 'tenant', ctx.tenantId, {
        ...settings,
      });
    });
    return this.settings(ctx.tenantId);
  }

  /** A campaign with its phases. */
  async get(tenantId: string, campaignId: string): Promise<Campaign> {
    const row = await this.#row(tenantId, campaignId);
    return toCampaign(row, (await phasesOf(this.db, tenantId, [row.id])).get(row.id) ?? []);
  }

  /** The tenant's campaigns, newest first. */
  async list(tenantId: string, query: CampaignQuery): Promise<Page<Campaign>> {
    const rows = await listCampaigns(this.db, tenantId, query);
    const phases = await phasesOf(
      this.db,
      tenantId,
      rows.map((r) => r.id),
    );
    return {
      items: rows.map((r) => toCampaign(r, phases.get(r.id) ?? [])),
      nextCursor: rows.length === query.limit ? (rows.at(-1)?.id ?? null) : null,
    };
  }

  /** Creates a draft. Release, filters, phases, thresholds and schedule are checked first. */
  async create(ctx: CampaignContext, input: CampaignInput): Promise<Campaign> {
    const nowDate = this.now();
    const at = nowDate.toISOString();
    const checked = await this.#check(ctx.tenantId, input, nowDate);
    const id = newId('cmp');
    const row: CampaignTable = {
      id,
      tenant_id: ctx.tenantId,
      name: input.name,
      release_id: input.releaseId,
      filter: input.filter,
      type: input.type ?? 'one-shot',
      state: 'draft',
      state_reason: null,
      ...checked.columns,
      current_phase: -1,
      start_at: null,
      started_at: null,
      materialised_at: null,
      finished_at: null,
      review_decision: null,
      review_by: null,
      review_at: null,
      review_comment: null,
      revision: 1,
      created_by: ctx.actorId,
      created_at: at,
      updated_at: at,
    };
    const phases = checked.phases(id);
    await this.db.transaction().execute(async (trx) => {
      await insertCampaign(trx, row, phases);
      await this.#audit(trx, ctx, at, 'campaign.create', 'campaign', id, {
        name: input.name,
        releaseId: input.releaseId,
        filter: input.filter,
      });
    });
    return toCampaign(row, phases);
  }

  /**
   * Edits a `draft` or `approved` campaign (the fields given replace the stored ones; phases
   * as a whole). Editing an approved campaign voids the approval: back to `draft`, review
   * cleared, audited as `campaign.approval_voided` as well.
   */
  async edit(
    ctx: CampaignContext,
    campaignId: string,
    patch: Partial<CampaignInput>,
  ): Promise<Campaign> {
    const nowDate = this.now();
    const at = nowDate.toISOString();
    const row = await this.#row(ctx.tenantId, campaignId);
    this.#require('edit', row);
    // Nothing to change changes nothing (and voids no approval).
    if (Object.values(patch).every((v) => v === undefined)) return this.get(ctx.tenantId, row.id);
    const current = toCampaign(
      row,
      (await phasesOf(this.db, ctx.tenantId, [row.id])).get(row.id) ?? [],
    );
    // A change of the campaign defaults reaches phases that did not set their own only when the
    // phases are given again; stored phases keep their resolved values.
    const merged: CampaignInput = {
      name: patch.name ?? current.name,
      releaseId: patch.releaseId ?? current.releaseId,
      filter: patch.filter ?? current.filter,
      type: patch.type ?? current.type,
      phases:
        patch.phases ??
        current.phases.map((p) => ({
          ...(p.percent !== null ? { percent: p.percent } : {}),
          ...(p.count !== null ? { count: p.count } : {}),
          ...(p.filter !== null ? { filter: p.filter } : {}),
          successThreshold: p.successThreshold,
          errorThreshold: p.errorThreshold,
          manualGate: p.manualGate,
        })),
      successThreshold: patch.successThreshold ?? current.successThreshold,
      errorThreshold: patch.errorThreshold ?? current.errorThreshold,
      soakSeconds: patch.soakSeconds ?? current.soakSeconds,
      healthTimeoutSeconds: patch.healthTimeoutSeconds ?? current.healthTimeoutSeconds,
      actionType: patch.actionType ?? current.actionType,
      forceAfter: patch.forceAfter !== undefined ? patch.forceAfter : current.forceAfter,
      recurringWindow:
        patch.recurringWindow !== undefined ? patch.recurringWindow : current.recurringWindow,
    };
    const checked = await this.#check(ctx.tenantId, merged, nowDate);
    const voids = row.state === 'approved';
    const changes = {
      name: merged.name,
      release_id: merged.releaseId,
      filter: merged.filter,
      type: merged.type ?? 'one-shot',
      ...checked.columns,
      state: 'draft',
      state_reason: null,
      review_decision: null,
      review_by: null,
      review_at: null,
      review_comment: null,
      updated_at: at,
    };
    const phases = checked.phases(row.id);
    await this.db.transaction().execute(async (trx) => {
      await this.#write(trx, row, changes);
      if (patch.phases !== undefined) await replacePhases(trx, ctx.tenantId, row.id, phases);
      await this.#audit(trx, ctx, at, 'campaign.update', 'campaign', row.id, { ...patch });
      if (voids) {
        await this.#stateChanged(trx, row, 'draft', 'edited', at);
        await this.#audit(trx, ctx, at, 'campaign.approval_voided', 'campaign', row.id, {
          approvedBy: row.review_by,
        });
      }
    });
    return this.get(ctx.tenantId, row.id);
  }

  /** Approves a draft: four-eyes (the approver did not create it). */
  async approve(
    ctx: CampaignContext,
    campaignId: string,
    comment: string | null,
  ): Promise<Campaign> {
    const at = this.now().toISOString();
    const row = await this.#row(ctx.tenantId, campaignId);
    this.#require('approve', row);
    if (row.created_by === ctx.actorId)
      throw new ServerError(
        'CAMPAIGN_SELF_APPROVAL',
        `campaign ${row.id} was created by you: another user with campaigns:approve must approve it`,
      );
    await this.db.transaction().execute(async (trx) => {
      await this.#write(trx, row, {
        state: 'approved',
        state_reason: null,
        review_decision: 'approved',
        review_by: ctx.actorId,
        review_at: at,
        review_comment: comment,
        updated_at: at,
      });
      await this.#stateChanged(trx, row, 'approved', 'approved', at);
      await this.#audit(trx, ctx, at, 'campaign.approve', 'campaign', row.id, { comment });
    });
    return this.get(ctx.tenantId, row.id);
  }

  /** Rejects a draft or an approved campaign: back to `draft` with the review recorded. */
  async reject(ctx: CampaignContext, campaignId: string, comment: string): Promise<Campaign> {
    const at = this.now().toISOString();
    const row = await this.#row(ctx.tenantId, campaignId);
    this.#require('reject', row);
    await this.db.transaction().execute(async (trx) => {
      await this.#write(trx, row, {
        state: 'draft',
        state_reason: null,
        review_decision: 'rejected',
        review_by: ctx.actorId,
        review_at: at,
        review_comment: comment,
        updated_at: at,
      });
      if (row.state !== 'draft') await this.#stateChanged(trx, row, 'draft', 'rejected', at);
      await this.#audit(trx, ctx, at, 'campaign.reject', 'campaign', row.id, { comment });
    });
    return this.get(ctx.tenantId, row.id);
  }

  /**
   * Starts a campaign now (`running`), or at `startAt` when that is in the future
   * (`scheduled`; the engine starts it then). From `draft` only when the tenant does not require
   * approval. The filters are resolved again (a group they name may have gone since).
   */
  async start(ctx: CampaignContext, campaignId: string, startAt?: string): Promise<Campaign> {
    return this.#retryOnChange(async () => {
      const nowDate = this.now();
      const at = nowDate.toISOString();
      const row = await this.#row(ctx.tenantId, campaignId);
      const later = startAt !== undefined && Date.parse(startAt) > nowDate.getTime();
      this.#require(later ? 'schedule' : 'start', row);
      if (row.state === 'draft' && (await this.settings(ctx.tenantId)).approvalRequired)
        throw new ServerError(
          'CAMPAIGN_APPROVAL_REQUIRED',
          `campaign ${row.id} must be approved before it starts (tenant setting approvalRequired)`,
          { details: { state: row.state } },
        );
      await this.#checkRelease(ctx.tenantId, row.release_id);
      await this.filters.resolve(ctx.tenantId, row.filter);
      const phases = (await phasesOf(this.db, ctx.tenantId, [row.id])).get(row.id) ?? [];
      for (const phase of phases)
        if (phase.filter !== null) await this.filters.resolve(ctx.tenantId, phase.filter);
      const to: CampaignState = later ? 'scheduled' : 'running';
      const startIso = later ? new Date(Date.parse(startAt)).toISOString() : null;
      await this.db.transaction().execute(async (trx) => {
        await this.#write(trx, row, {
          state: to,
          state_reason: null,
          start_at: startIso,
          started_at: later ? null : at,
          updated_at: at,
        });
        await this.#stateChanged(trx, row, to, 'operator', at);
        await this.#audit(trx, ctx, at, 'campaign.start', 'campaign', row.id, {
          from: row.state,
          to,
          ...(startIso !== null ? { at: startIso } : {}),
        });
      });
      this.engine.poke(ctx.tenantId, row.id);
      return this.get(ctx.tenantId, row.id);
    });
  }

  /** Pauses a running campaign (reason `operator`): no new actions until resumed. */
  async pause(ctx: CampaignContext, campaignId: string, comment: string | null): Promise<Campaign> {
    return this.#retryOnChange(async () => {
      const at = this.now().toISOString();
      const row = await this.#row(ctx.tenantId, campaignId);
      this.#require('pause', row);
      await this.db.transaction().execute(async (trx) => {
        await this.#write(trx, row, { state: 'paused', state_reason: 'operator', updated_at: at });
        await this.#stateChanged(trx, row, 'paused', 'operator', at);
        await this.#audit(trx, ctx, at, 'campaign.pause', 'campaign', row.id, { comment });
      });
      this.push.campaignPaused(ctx.tenantId, row.id);
      return this.get(ctx.tenantId, row.id);
    });
  }

  /**
   * Resumes a paused campaign. After an error-threshold pause the current phase's failures so
   * far are acknowledged and the phase runs again; after a manual gate the engine sees the
   * passed phase and starts the next one.
   */
  async resume(ctx: CampaignContext, campaignId: string): Promise<Campaign> {
    return this.#retryOnChange(async () => {
      const at = this.now().toISOString();
      const row = await this.#row(ctx.tenantId, campaignId);
      this.#require('resume', row);
      await this.db.transaction().execute(async (trx) => {
        await this.#write(trx, row, { state: 'running', state_reason: null, updated_at: at });
        if (row.state_reason === 'error-threshold' && Number(row.current_phase) >= 0)
          await acknowledgePhaseErrors(trx, ctx.tenantId, row.id, Number(row.current_phase));
        await this.#stateChanged(trx, row, 'running', 'operator', at);
        await this.#audit(trx, ctx, at, 'campaign.resume', 'campaign', row.id, {
          pausedFor: row.state_reason,
        });
      });
      this.engine.poke(ctx.tenantId, row.id);
      return this.get(ctx.tenantId, row.id);
    });
  }

  /**
   * Cancels: open actions that can still be cancelled are asked to (devices are told at their
   * next check-in), targets still waiting for an action are `cancelled`. A device already
   * installing finishes.
   */
  async cancel(ctx: CampaignContext, campaignId: string): Promise<Campaign> {
    return this.#retryOnChange(async () => {
      const at = this.now().toISOString();
      const row = await this.#row(ctx.tenantId, campaignId);
      this.#require('cancel', row);
      const devices = await this.db.transaction().execute(async (trx) => {
        await this.#write(trx, row, {
          state: 'cancelled',
          state_reason: 'operator',
          finished_at: at,
          updated_at: at,
        });
        const touched = await cancelCampaignWork(trx, ctx.tenantId, row.id, ctx.actorId, at);
        await this.#stateChanged(trx, row, 'cancelled', 'operator', at);
        await this.#audit(trx, ctx, at, 'campaign.cancel', 'campaign', row.id, {
          from: row.state,
          actionsCancelled: touched.length,
        });
        return touched;
      });
      // The cancel request leaves open_key as it is (no trigger fires): tell the check-in caches.
      for (const deviceId of devices) this.changes.announce(ctx.tenantId, deviceId);
      return this.get(ctx.tenantId, row.id);
    });
  }

  /** Finishes a running or paused campaign (reason `operator`); open actions run to their end. */
  async finish(ctx: CampaignContext, campaignId: string): Promise<Campaign> {
    return this.#retryOnChange(async () => {
      const at = this.now().toISOString();
      const row = await this.#row(ctx.tenantId, campaignId);
      this.#require('finish', row);
      await this.db.transaction().execute(async (trx) => {
        await this.#write(trx, row, {
          state: 'finished',
          state_reason: 'operator',
          finished_at: at,
          updated_at: at,
        });
        await this.#stateChanged(trx, row, 'finished', 'operator', at);
        await this.#audit(trx, ctx, at, 'campaign.finish', 'campaign', row.id, {
          from: row.state,
        });
      });
      return this.get(ctx.tenantId, row.id);
    });
  }

  /** The status document: per-phase and total counts, failure reasons, bytes saved. */
  async status(tenantId: string, campaignId: string): Promise<CampaignStatus> {
    const row = await this.#row(tenantId, campaignId);
    const phases = (await phasesOf(this.db, tenantId, [row.id])).get(row.id) ?? [];
    const counts = await campaignCounts(this.db, row.id);
    return {
      id: row.id,
      state: row.state as CampaignState,
      stateReason: row.state_reason as StateReason | null,
      currentPhase: Number(row.current_phase),
      phases: phases.map((p) => {
        const c = counts.byPhase.get(Number(p.idx)) ?? emptyCounts();
        return { index: Number(p.idx), state: p.state as PhaseState, size: c.targets, counts: c };
      }),
      totals: counts.totals,
      failureReasons: await failureReasons(
        this.db,
        row.id,
        CAMPAIGN_LIMITS.failureCodes,
        CAMPAIGN_LIMITS.failureExamples,
      ),
      bytesSaved: await campaignBytesSaved(this.db, tenantId, row.id),
    };
  }

  /** The progress samples (oldest first), at most `limit`, the latest ones. */
  async timeseries(
    tenantId: string,
    campaignId: string,
    limit: number,
  ): Promise<{ items: { at: string; totals: TargetCounts }[] }> {
    const row = await this.#row(tenantId, campaignId);
    const samples = await campaignSamples(this.db, tenantId, row.id, limit);
    return {
      items: samples.map((s) => ({
        at: s.at,
        totals: { ...emptyCounts(), ...(JSON.parse(s.counts) as Partial<TargetCounts>) },
      })),
    };
  }

  /** The campaign's targets in rank order, keyset paged (`cursor` from the previous page). */
  async targets(
    tenantId: string,
    campaignId: string,
    query: Omit<TargetQuery, 'after'> & { cursor?: string | undefined },
  ): Promise<Page<CampaignTarget>> {
    const row = await this.#row(tenantId, campaignId);
    let after: TargetQuery['after'];
    if (query.cursor !== undefined) {
      const dot = query.cursor.indexOf('.');
      if (dot <= 0)
        throw new ServerError('RESOURCE_INVALID', `cursor ${query.cursor} is not one of ours`);
      after = { rank: query.cursor.slice(0, dot), deviceId: query.cursor.slice(dot + 1) };
    }
    const rows = await listTargets(this.db, tenantId, row.id, {
      status: query.status,
      phase: query.phase,
      limit: query.limit,
      after,
    });
    const last = rows.at(-1);
    return {
      items: rows.map((r) => ({
        deviceId: r.device_id,
        deviceName: r.device_name,
        status: r.status as TargetStatus,
        code: r.code,
        phase: r.phase === null ? null : Number(r.phase),
        actionId: r.action_id,
        joinedAt: r.joined_at,
        updatedAt: r.updated_at,
      })),
      nextCursor:
        rows.length === query.limit && last !== undefined ? `${last.rank}.${last.device_id}` : null,
    };
  }

  async #row(tenantId: string, campaignId: string): Promise<CampaignTable> {
    const row = await findCampaign(this.db, tenantId, campaignId);
    if (row === undefined) throw new ServerError('RESOURCE_NOT_FOUND', `no campaign ${campaignId}`);
    return row;
  }

  #require(op: CampaignOperation, row: CampaignTable): void {
    if (!canApply(op, row.state as CampaignState))
      throw new ServerError(
        'CAMPAIGN_STATE_INVALID',
        `campaign ${row.id} is ${row.state}: ${op} is not possible`,
        { details: { state: row.state } },
      );
  }

  /**
   * Runs an operator's state change again (re-reading the campaign) when the engine or another
   * replica changed the row meanwhile: "pause" means pause whatever the engine just did, so a
   * lost optimistic write is not the operator's problem. Only edits and reviews, which are about
   * the exact content the user saw, surface `CAMPAIGN_CHANGED`.
   */
  async #retryOnChange<T>(operation: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await operation();
      } catch (error) {
        const lost = error instanceof ServerError && error.code === 'CAMPAIGN_CHANGED';
        if (!lost || attempt >= STATE_CHANGE_ATTEMPTS) throw error;
      }
    }
  }

  async #write(
    trx: Transaction<Database>,
    row: CampaignTable,
    changes: Parameters<typeof updateCampaign>[2],
  ): Promise<void> {
    if (!(await updateCampaign(trx, row, changes)))
      throw new ServerError(
        'CAMPAIGN_CHANGED',
        `campaign ${row.id} changed meanwhile; read it again and retry`,
      );
  }

  async #stateChanged(
    trx: Transaction<Database>,
    row: CampaignTable,
    to: CampaignState,
    reason: string | null,
    at: string,
  ): Promise<void> {
    await recordCampaignEvent(
      trx,
      this.events,
      { id: row.id, tenantId: row.tenant_id, name: row.name },
      'state_changed',
      { from: row.state, to, reason },
      at,
    );
  }

  async #checkRelease(tenantId: string, releaseId: string): Promise<void> {
    if ((await findRelease(this.db, tenantId, releaseId)) === undefined)
      throw new ServerError(
        'CAMPAIGN_INVALID',
        `release ${releaseId} does not exist or was deleted`,
      );
  }

  /**
   * Checks everything a create or an edit must hold (release, filters, phases, schedule) and
   * answers the columns to store and the phase rows.
   */
  async #check(
    tenantId: string,
    input: CampaignInput,
    now: Date,
  ): Promise<{
    columns: Pick<
      CampaignTable,
      | 'action_type'
      | 'force_after'
      | 'recurring_window'
      | 'soak_seconds'
      | 'health_timeout_seconds'
      | 'success_threshold'
      | 'error_threshold'
    >;
    phases: (campaignId: string) => CampaignPhaseTable[];
  }> {
    await this.#checkRelease(tenantId, input.releaseId);
    await this.filters.resolve(tenantId, input.filter);
    const phases = input.phases ?? [{ percent: 100 }];
    if (phases.length === 0 || phases.length > CAMPAIGN_LIMITS.phases)
      throw new ServerError(
        'CAMPAIGN_INVALID',
        `a campaign has 1 to ${CAMPAIGN_LIMITS.phases} phases`,
      );
    let lastPercent = 0;
    for (const [i, phase] of phases.entries()) {
      if ((phase.percent === undefined) === (phase.count === undefined))
        throw new ServerError(
          'CAMPAIGN_INVALID',
          `phase ${i}: give either percent (cumulative) or count`,
        );
      if (phase.percent !== undefined) {
        if (phase.percent <= lastPercent)
          throw new ServerError(
            'CAMPAIGN_INVALID',
            `phase ${i}: percent ${phase.percent} must be above the earlier phases' ${lastPercent} (percents are cumulative)`,
          );
        lastPercent = phase.percent;
      }
      if (phase.filter !== undefined) await this.filters.resolve(tenantId, phase.filter);
    }
    const schedule = resolveActionSchedule(
      {
        type: input.actionType ?? CAMPAIGN_DEFAULTS.actionType,
        forceAfter: input.forceAfter ?? null,
        recurringWindow: input.recurringWindow ?? null,
      },
      now.getTime(),
    );
    const successThreshold = input.successThreshold ?? CAMPAIGN_DEFAULTS.successThreshold;
    const errorThreshold = input.errorThreshold ?? CAMPAIGN_DEFAULTS.errorThreshold;
    return {
      columns: {
        action_type: schedule.type,
        force_after: schedule.forceAfter,
        recurring_window:
          schedule.recurringWindow === null ? null : JSON.stringify(schedule.recurringWindow),
        soak_seconds: input.soakSeconds ?? CAMPAIGN_DEFAULTS.soakSeconds,
        health_timeout_seconds:
          input.healthTimeoutSeconds ?? CAMPAIGN_DEFAULTS.healthTimeoutSeconds,
        success_threshold: successThreshold,
        error_threshold: JSON.stringify(errorThreshold),
      },
      phases: (campaignId) =>
        phases.map((p, idx) => {
          const error = p.errorThreshold ?? errorThreshold;
          return {
            tenant_id: tenantId,
            campaign_id: campaignId,
            idx,
            size_percent: p.percent ?? null,
            size_count: p.count ?? null,
            filter: p.filter ?? null,
            success_threshold: p.successThreshold ?? successThreshold,
            error_threshold_percent: 'percent' in error ? error.percent : null,
            error_threshold_count: 'count' in error ? error.count : null,
            manual_gate: p.manualGate === true ? 1 : 0,
            errors_acknowledged: 0,
            state: 'pending',
            started_at: null,
            passed_at: null,
          };
        }),
    };
  }

  async #audit(
    trx: Transaction<Database>,
    ctx: CampaignContext,
    at: string,
    action: string,
    resourceType: string,
    resourceId: string,
    change: Record<string, unknown>,
  ): Promise<void> {
    await appendAudit(
      trx,
      {
        tenantId: ctx.tenantId,
        actorType: 'user',
        actorId: ctx.actorId,
        action,
        resourceType,
        resourceId,
        change,
        ip: ctx.ip,
        outcome: 'success',
        status: action === 'campaign.create' ? 201 : 200,
        requestId: ctx.requestId,
      },
      at,
    );
  }
}
