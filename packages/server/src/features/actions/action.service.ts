import type {
  ActionType,
  FeedbackReport,
  MaintenanceWindow,
  RecurringMaintenanceWindow,
} from '@updraft/core';
import { BugError } from '@updraft/core';
import type { Kysely, Transaction } from 'kysely';
import { newId } from '../../auth/secrets.js';
import type { Database } from '../../db/database.js';
import type { DeviceChangeFeed } from '../../db/device-changes.js';
import { ServerError } from '../../errors.js';
import { NO_PUSH, type PushNotices } from '../../mqtt/push-notifier.js';
import { appendAudit } from '../audit/audit.repository.js';
import type { CampaignEngineHandle } from '../campaigns/campaign-engine-port.js';
import {
  cancelTargetsOfActions,
  followActionState,
} from '../campaigns/campaign-fanout.repository.js';
import { targetStatusOfAction } from '../campaigns/campaign-states.js';
import { findRelease } from '../releases/release.repository.js';
import type { ChangeContext } from '../releases/release.service.js';
import { isUniqueViolation } from '../releases/release.service.js';
import type { WebhookPublisher } from '../webhooks/webhook-outbox.js';
import {
  findAction,
  findDeviceForAssignment,
  findOpenActionId,
  insertAction,
  insertActionEvent,
  installedSequenceNumbers,
  listActionEvents,
  listDeviceActions,
  openActionsSignedBy,
  recordInstalled,
  reportSeen,
  revokedKids,
  updateAction,
} from './action.repository.js';
import type { ActionEventTable, ActionTable } from './action.table.js';
import {
  type ActionScheduleInput,
  resolveActionSchedule,
  scheduleColumns,
  scheduleOfRow,
} from './action-schedule.js';
import {
  type ActionSnapshot,
  type ActionState,
  canRequestCancel,
  isTerminal,
  nextActionState,
  reportPath,
} from './action-state-machine.js';

/** A maintenance window: the device API's wire type. */
export type { MaintenanceWindow } from '@updraft/core';

/** An action as the management API shows it. */
export interface Action {
  readonly id: string;
  readonly deviceId: string;
  readonly releaseId: string;
  readonly state: ActionState;
  readonly cancelRequested: boolean;
  readonly type: ActionType;
  readonly downloadOnly: boolean;
  readonly forceAfter: string | null;
  readonly maintenanceWindow: MaintenanceWindow | null;
  readonly recurringWindow: RecurringMaintenanceWindow | null;
  readonly open: boolean;
  readonly createdAt: string;
  readonly createdBy: string | null;
  readonly updatedAt: string;
}

/** One entry of an action's history. */
export interface ActionEvent {
  readonly at: string;
  readonly source: 'server' | 'device';
  readonly status: string;
  readonly progress: number | null;
  readonly code: string | null;
  readonly message: string | null;
  readonly reportId: string | null;
}

/** A device report after boundary validation: the device API's wire type. */
export type DeviceReport = FeedbackReport;

/** Outcome of a device report: `replayed` when its reportId was already recorded. */
export interface ReportOutcome {
  readonly action: Action;
  readonly replayed: boolean;
}

const newActionId = () => newId('act');

/** Converts a row to the API shape. */
export function toAction(row: ActionTable): Action {
  return {
    id: row.id,
    deviceId: row.device_id,
    releaseId: row.release_id,
    state: row.state as ActionState,
    cancelRequested: Number(row.cancel_requested) === 1,
    ...scheduleOfRow(row),
    open: row.open_key !== null,
    createdAt: row.created_at,
    createdBy: row.created_by,
    updatedAt: row.updated_at,
  };
}

function toEvent(row: ActionEventTable): ActionEvent {
  return {
    at: row.at,
    source: row.source as ActionEvent['source'],
    status: row.status,
    progress: row.progress === null ? null : Number(row.progress),
    code: row.code,
    message: row.message,
    reportId: row.report_id,
  };
}

/** A device's actions, newest first (the action history of the device view). */
export async function actionsOfDevice(
  db: Kysely<Database>,
  tenantId: string,
  deviceId: string,
  limit = 100,
): Promise<Action[]> {
  return (await listDeviceActions(db, tenantId, deviceId, limit)).map(toAction);
}

/** An action's events in the order they happened. */
export async function eventsOfAction(
  db: Kysely<Database>,
  tenantId: string,
  actionId: string,
): Promise<ActionEvent[]> {
  return (await listActionEvents(db, tenantId, actionId)).map(toEvent);
}

/** What a key revocation did to the actions it touched. */
export interface RevocationOutcome {
  /** Open actions of releases signed by the key, now closed as `canceled`. */
  readonly canceledActionIds: readonly string[];
  /** Their devices (their check-in sessions must be dropped once the transaction commits). */
  readonly deviceIds: readonly string[];
}

/**
 * Assigning, cancelling and device feedback. Every change runs in one transaction with its
 * append-only event (and, for management calls, its audit entry). "One open action per device"
 * is a UNIQUE constraint, so two concurrent assignments cannot both win. All SQL is in
 * `action.repository.ts`.
 */
export class ActionService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => Date,
    /** Told after each commit that opens or closes a device's action (read-your-writes). */
    private readonly changes: Pick<DeviceChangeFeed, 'announce'>,
    /** Where `action.failed` is published, in the transaction that records the failure. */
    private readonly events: WebhookPublisher,
    /** Poked after a report moved a campaign's target, so its phase can advance at once. */
    private readonly campaigns?: CampaignEngineHandle,
    /** Push notices to devices, after the commit (never fails the operation). */
    private readonly push: PushNotices = NO_PUSH,
  ) {}

  /** Assigns a release to one device (the device's class must match the release's). */
  async assign(
    ctx: ChangeContext,
    input: {
      deviceId: string;
      releaseId: string;
    } & ActionScheduleInput,
  ): Promise<Action> {
    const nowDate = this.now();
    const at = nowDate.toISOString();
    // Checked before the transaction: a bad type or window changes nothing.
    const schedule = resolveActionSchedule(input, nowDate.getTime());
    try {
      const action = await this.db.transaction().execute(async (trx) => {
        const device = await findDeviceForAssignment(trx, ctx.tenantId, input.deviceId);
        if (device === undefined || device.decommissioned_at !== null) {
          throw new ServerError('RESOURCE_NOT_FOUND', `device ${input.deviceId} not found`);
        }
        const release = await findRelease(trx, ctx.tenantId, input.releaseId);
        if (release === undefined)
          throw new ServerError('RESOURCE_NOT_FOUND', `release ${input.releaseId} not found`);
        if (release.deviceClassId !== device.device_class_id) {
          throw new ServerError(
            'ACTION_CLASS_MISMATCH',
            `release ${release.id} is for another device class than device ${device.id}`,
            {
              details: { releaseClass: release.deviceClassId, deviceClass: device.device_class_id },
            },
          );
        }
        const revoked = await revokedKids(
          trx,
          ctx.tenantId,
          release.deviceClassId,
          release.signerKids,
        );
        if (revoked.length > 0) {
          throw new ServerError(
            'RELEASE_KEY_REVOKED',
            `release ${release.id} is signed by a revoked key`,
            { details: { kids: revoked } },
          );
        }
        // Anti-rollback, told at assignment: the device would refuse a sequence number that is
        // not above the one it runs for any component of the release.
        const releaseComponents = new Set(release.components.map((c) => c.id));
        const installed = (await installedSequenceNumbers(trx, ctx.tenantId, device.id)).filter(
          (c) => releaseComponents.has(c.componentId) && c.sequenceNumber !== null,
        );
        const highest = Math.max(-1, ...installed.map((c) => c.sequenceNumber ?? -1));
        if (highest >= release.sequenceNumber) {
          throw new ServerError(
            'ACTION_SEQUENCE_NOT_NEWER',
            `device ${device.id} runs sequence number ${highest}; release ${release.id} has ${release.sequenceNumber}`,
            { details: { installed: highest, release: release.sequenceNumber } },
          );
        }
        const open = await findOpenActionId(trx, ctx.tenantId, device.id);
        if (open !== undefined) {
          throw new ServerError(
            'ACTION_ALREADY_OPEN',
            `device ${device.id} already has open action ${open}`,
            { details: { actionId: open } },
          );
        }
        const row: ActionTable = {
          id: newActionId(),
          tenant_id: ctx.tenantId,
          device_id: device.id,
          release_id: release.id,
          state: 'assigned',
          cancel_requested: 0,
          ...scheduleColumns(schedule),
          open_key: device.id,
          campaign_id: null,
          revision: 1,
          created_at: at,
          created_by: ctx.actorId,
          updated_at: at,
        };
        await insertAction(trx, row);
        await insertActionEvent(trx, row, at, {
          source: 'server',
          status: 'assigned',
          actorId: ctx.actorId,
        });
        await this.#audit(
          trx,
          ctx,
          at,
          'action.assign',
          row.id,
          { deviceId: device.id, releaseId: release.id },
          201,
        );
        return toAction(row);
      });
      this.changes.announce(ctx.tenantId, action.deviceId);
      this.push.actionsCreated(ctx.tenantId, [action.id]);
      return action;
    } catch (error) {
      if (isUniqueViolation(error)) {
        throw new ServerError(
          'ACTION_ALREADY_OPEN',
          `device ${input.deviceId} already has an open action`,
        );
      }
      throw error;
    }
  }

  /** Requests cancellation; the device acknowledges with `canceled`. Idempotent. */
  async cancel(ctx: ChangeContext, actionId: string): Promise<Action> {
    const at = this.now().toISOString();
    let requested = false;
    const action = await this.db.transaction().execute(async (trx) => {
      const row = await findAction(trx, ctx.tenantId, actionId);
      if (row === undefined)
        throw new ServerError('RESOURCE_NOT_FOUND', `action ${actionId} not found`);
      const snapshot = {
        state: row.state as ActionState,
        cancelRequested: Number(row.cancel_requested) === 1,
      };
      if (snapshot.cancelRequested && !isTerminal(snapshot.state)) return toAction(row);
      if (!canRequestCancel(snapshot)) {
        throw new ServerError(
          'ACTION_TRANSITION_INVALID',
          `action ${actionId} cannot be canceled in state '${row.state}'`,
          { details: { state: row.state } },
        );
      }
      const updated: ActionTable = {
        ...row,
        cancel_requested: 1,
        revision: Number(row.revision) + 1,
        updated_at: at,
      };
      await this.#update(trx, row, updated);
      await insertActionEvent(trx, row, at, {
        source: 'server',
        status: 'cancel_requested',
        actorId: ctx.actorId,
      });
      await this.#audit(trx, ctx, at, 'action.cancel', row.id, { deviceId: row.device_id }, 200);
      requested = true;
      return toAction(updated);
    });
    if (requested) this.push.cancelRequested(ctx.tenantId, action.id);
    return action;
  }

  /**
   * Closes, inside the caller's transaction (the key's revocation), every open action whose
   * release is signed by `kid`: state `canceled` at once (a device must not install what the
   * tenant no longer trusts, so this does not wait for its acknowledgement), one event each
   * (code `RELEASE_KEY_REVOKED`) and one audit entry each. The caller announces the devices
   * after its commit ({@link announceClosed}).
   */
  async cancelSignedBy(
    trx: Transaction<Database>,
    ctx: ChangeContext,
    deviceClassId: string,
    kid: string,
  ): Promise<RevocationOutcome> {
    const at = this.now().toISOString();
    const rows = await openActionsSignedBy(trx, ctx.tenantId, deviceClassId, kid);
    for (const row of rows) {
      const updated: ActionTable = {
        ...row,
        state: 'canceled',
        open_key: null,
        revision: Number(row.revision) + 1,
        updated_at: at,
      };
      await this.#update(trx, row, updated);
      await insertActionEvent(trx, row, at, {
        source: 'server',
        status: 'canceled',
        code: 'RELEASE_KEY_REVOKED',
        message: `the release's signing key ${kid} was revoked`,
        actorId: ctx.actorId,
      });
      await this.#audit(
        trx,
        ctx,
        at,
        'action.cancel',
        row.id,
        { deviceId: row.device_id, reason: 'key-revoked', kid },
        200,
      );
    }
    // Their campaign targets end with them (the engine's next tick takes it from there).
    await cancelTargetsOfActions(
      trx,
      rows.filter((r) => r.campaign_id !== null).map((r) => r.id),
      'RELEASE_KEY_REVOKED',
      at,
    );
    return {
      canceledActionIds: rows.map((r) => r.id),
      deviceIds: [...new Set(rows.map((r) => r.device_id))],
    };
  }

  /** Tells the change feed that these devices' actions closed (after the commit). */
  announceClosed(tenantId: string, deviceIds: readonly string[]): void {
    for (const deviceId of deviceIds) this.changes.announce(tenantId, deviceId);
  }

  /**
   * Applies a device report to the device's own action. A reportId seen before is a replay:
   * the current state comes back and nothing is written. A `success` also records what the
   * device now runs (the release's components) and that it was seen, in the same transaction.
   */
  async report(
    principal: { tenantId: string; deviceId: string },
    actionId: string,
    report: DeviceReport,
  ): Promise<ReportOutcome> {
    return this.#reportSteps(principal, actionId, report.reportId, () => ({
      report,
      steps: [report.status],
    }));
  }

  /**
   * Applies a report of a foreign protocol (hawkBit DDI, Mender) whose clients skip states:
   * the legal intermediate steps to `report.status` ({@link reportPath}) are replayed first, all
   * in one transaction, each as its own event one millisecond apart (so the history keeps their
   * order); `progress`, `code` and `message` go with the last step only. A report for the state
   * the action is already in is recorded as that state again when the table allows the
   * self-loop, else it changes nothing. `ACTION_TRANSITION_INVALID` when no legal path exists.
   */
  async reportWalk(
    principal: { tenantId: string; deviceId: string },
    actionId: string,
    report: DeviceReport,
  ): Promise<ReportOutcome> {
    return this.#reportSteps(principal, actionId, report.reportId, (snapshot) => ({
      report,
      steps: walkSteps(snapshot, report),
    }));
  }

  /**
   * {@link reportWalk} for a report that depends on the action's state, read in the same
   * transaction (so a concurrent report cannot slip between the read and the walk): `decide`
   * answers the report to walk to, or null to record nothing (e.g. a stale status a client
   * repeats after a restart).
   */
  async reportToward(
    principal: { tenantId: string; deviceId: string },
    actionId: string,
    decide: (snapshot: ActionSnapshot) => DeviceReport | null,
  ): Promise<ReportOutcome> {
    return this.#reportSteps(principal, actionId, null, (snapshot) => {
      const report = decide(snapshot);
      return report === null ? null : { report, steps: walkSteps(snapshot, report) };
    });
  }

  /**
   * Walks the action in one transaction through the steps `plan` answers for the state read
   * there: the last step is the planned report itself, earlier ones carry no code. A null plan
   * records nothing; null steps are an illegal report. `reportId`, when given, makes a repeat a
   * replay (checked before planning).
   */
  async #reportSteps(
    principal: { tenantId: string; deviceId: string },
    actionId: string,
    reportId: string | null,
    plan: (
      snapshot: ActionSnapshot,
    ) => { report: DeviceReport; steps: readonly DeviceReport['status'][] | null } | null,
  ): Promise<ReportOutcome> {
    const start = this.now().getTime();
    try {
      const outcome = await this.db.transaction().execute(async (trx) => {
        const first = await findAction(trx, principal.tenantId, actionId, principal.deviceId);
        if (first === undefined)
          throw new ServerError('RESOURCE_NOT_FOUND', `action ${actionId} not found`);
        if (reportId !== null && (await reportSeen(trx, first.id, reportId)))
          return { action: toAction(first), replayed: true, campaignId: null };
        const snapshot = {
          state: first.state as ActionState,
          cancelRequested: Number(first.cancel_requested) === 1,
        };
        const planned = plan(snapshot);
        if (planned === null) return { action: toAction(first), replayed: false, campaignId: null };
        const { report, steps } = planned;
        if (steps === null) {
          const verdict = nextActionState(snapshot, report);
          throw new ServerError(
            'ACTION_TRANSITION_INVALID',
            verdict.ok
              ? `'${report.status}' is not reachable from '${first.state}'`
              : verdict.reason,
            { details: { state: first.state, status: report.status } },
          );
        }
        let row = first;
        let moved = false;
        for (const [i, status] of steps.entries()) {
          const last = i === steps.length - 1;
          const step: DeviceReport = last
            ? report
            : { reportId: report.reportId, status, progress: null, code: null, message: null };
          const at = new Date(start + i).toISOString();
          const before = row;
          row = await this.#applyStep(trx, principal, before, step, last, at);
          if (before.campaign_id !== null && row.state !== before.state) moved = true;
        }
        return {
          action: toAction(row),
          replayed: false,
          campaignId: moved ? first.campaign_id : null,
        };
      });
      // The device's next check-in (often right away) must see its action closed.
      if (!outcome.action.open) this.changes.announce(principal.tenantId, principal.deviceId);
      if (outcome.campaignId) this.campaigns?.poke(principal.tenantId, outcome.campaignId);
      return { action: outcome.action, replayed: outcome.replayed };
    } catch (error) {
      // Two copies of one report raced: the loser sees the winner's event and is a replay.
      if (isUniqueViolation(error)) {
        const row = await findAction(this.db, principal.tenantId, actionId);
        if (
          row !== undefined &&
          reportId !== null &&
          (await reportSeen(this.db, row.id, reportId))
        ) {
          return { action: toAction(row), replayed: true };
        }
      }
      throw error;
    }
  }

  /** One legal step of a report inside the caller's transaction; the updated row. */
  async #applyStep(
    trx: Transaction<Database>,
    principal: { tenantId: string; deviceId: string },
    row: ActionTable,
    report: DeviceReport,
    carriesReportId: boolean,
    at: string,
  ): Promise<ActionTable> {
    const snapshot = {
      state: row.state as ActionState,
      cancelRequested: Number(row.cancel_requested) === 1,
    };
    // Replayed intermediate steps carry no code: only the report's own last step is checked for one.
    const verdict = nextActionState(snapshot, report);
    if (!verdict.ok) {
      throw new ServerError('ACTION_TRANSITION_INVALID', verdict.reason, {
        details: { state: row.state, status: report.status },
      });
    }
    const updated: ActionTable = {
      ...row,
      state: verdict.to,
      open_key: isTerminal(verdict.to) ? null : row.open_key,
      revision: Number(row.revision) + 1,
      updated_at: at,
    };
    await this.#update(trx, row, updated);
    await insertActionEvent(trx, row, at, {
      source: 'device',
      status: report.status,
      progress: report.progress,
      code: report.code,
      message: report.message,
      reportId: carriesReportId ? report.reportId : null,
    });
    if (row.campaign_id !== null && verdict.to !== row.state) {
      await followActionState(
        trx,
        { id: row.id, campaignId: row.campaign_id, deviceId: row.device_id },
        targetStatusOfAction(verdict.to),
        report.code ?? null,
        at,
      );
    }
    if (verdict.to === 'failure' && row.state !== 'failure') {
      await this.events.publish(trx, principal.tenantId, 'action.failed', {
        action: { id: row.id, deviceId: row.device_id, releaseId: row.release_id },
        code: report.code ?? null,
        message: report.message ?? null,
      });
    }
    if (verdict.to === 'success' && row.state !== 'success') {
      const release = await findRelease(trx, principal.tenantId, row.release_id);
      if (release === undefined) throw new BugError(`action ${row.id} has no release`);
      await recordInstalled(
        trx,
        principal.tenantId,
        principal.deviceId,
        release.components.map((c) => ({
          componentId: c.id,
          version: release.version,
          sequenceNumber: release.sequenceNumber,
          digest: c.imageDigest,
        })),
        at,
      );
    }
    return updated;
  }

  async #update(
    trx: Transaction<Database>,
    before: ActionTable,
    after: ActionTable,
  ): Promise<void> {
    if (!(await updateAction(trx, before, after))) {
      throw new ServerError('ACTION_TRANSITION_INVALID', 'the action changed concurrently; retry', {
        details: { state: before.state },
      });
    }
  }

  async #audit(
    trx: Transaction<Database>,
    ctx: ChangeContext,
    at: string,
    action: string,
    actionId: string,
    change: Record<string, unknown>,
    status: number,
  ): Promise<void> {
    await appendAudit(
      trx,
      {
        tenantId: ctx.tenantId,
        actorType: 'user',
        actorId: ctx.actorId,
        action,
        resourceType: 'action',
        resourceId: actionId,
        change,
        ip: ctx.ip,
        outcome: 'success',
        status,
        requestId: ctx.requestId,
      },
      at,
    );
  }
}

/** The steps of {@link ActionService.reportWalk}: null when no legal walk reaches the report. */
function walkSteps(
  snapshot: ActionSnapshot,
  report: DeviceReport,
): readonly DeviceReport['status'][] | null {
  if (isTerminal(snapshot.state)) return null;
  if (snapshot.state === report.status)
    return nextActionState(snapshot, report).ok ? [report.status] : [];
  return reportPath(snapshot.state, report.status, snapshot.cancelRequested);
}
