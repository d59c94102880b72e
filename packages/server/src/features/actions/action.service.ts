import type { FeedbackReport, MaintenanceWindow } from '@updraft/core';
import type { Kysely, Transaction } from 'kysely';
import { newId } from '../../auth/secrets.js';
import type { Database } from '../../db/database.js';
import type { DeviceChangeFeed } from '../../db/device-changes.js';
import { ServerError } from '../../errors.js';
import { appendAudit } from '../audit/audit.repository.js';
import { findRelease } from '../releases/release.repository.js';
import type { ChangeContext } from '../releases/release.service.js';
import { isUniqueViolation } from '../releases/release.service.js';
import type { ActionEventTable, ActionTable } from './action.table.js';
import {
  type ActionState,
  canRequestCancel,
  isTerminal,
  nextActionState,
} from './action-state-machine.js';
import './action.table.js';

/** A maintenance window: the device API's wire type. */
export type { MaintenanceWindow } from '@updraft/core';

/** An action as the management API shows it. */
export interface Action {
  readonly id: string;
  readonly deviceId: string;
  readonly releaseId: string;
  readonly state: ActionState;
  readonly cancelRequested: boolean;
  readonly downloadOnly: boolean;
  readonly maintenanceWindow: MaintenanceWindow | null;
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

type Db = Kysely<Database> | Transaction<Database>;

/** Converts a row to the API shape. */
export function toAction(row: ActionTable): Action {
  return {
    id: row.id,
    deviceId: row.device_id,
    releaseId: row.release_id,
    state: row.state as ActionState,
    cancelRequested: Number(row.cancel_requested) === 1,
    downloadOnly: Number(row.download_only) === 1,
    maintenanceWindow:
      row.maintenance_window === null
        ? null
        : (JSON.parse(row.maintenance_window) as MaintenanceWindow),
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

/** The tenant's action, or undefined. */
export async function findAction(
  db: Db,
  tenantId: string,
  actionId: string,
): Promise<ActionTable | undefined> {
  return db
    .selectFrom('actions')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('id', '=', actionId)
    .executeTakeFirst();
}

/** A device's actions, newest first (the action history of the device view). */
export async function actionsOfDevice(
  db: Db,
  tenantId: string,
  deviceId: string,
  limit = 100,
): Promise<Action[]> {
  const rows = await db
    .selectFrom('actions')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('device_id', '=', deviceId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  return rows.map(toAction);
}

/** An action's events in the order they happened. */
export async function eventsOfAction(
  db: Db,
  tenantId: string,
  actionId: string,
): Promise<ActionEvent[]> {
  const rows = await db
    .selectFrom('action_events')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('action_id', '=', actionId)
    .orderBy('at')
    .orderBy('id')
    .execute();
  return rows.map(toEvent);
}

/** Number of actions per state, for the metrics gauge. */
export async function countActionsByState(db: Db): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('actions')
    .select(['state', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('state')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
}

// Event ids sort by time, then randomness: history reads back in insertion order.
function eventId(at: string): string {
  return `${newId(`evt_${at.replaceAll(/[-:.TZ]/g, '')}`)}`;
}

/**
 * Assigning, cancelling and device feedback. Every change runs in one transaction with its
 * append-only event (and, for management calls, its audit entry). "One open action per device"
 * is a UNIQUE constraint, so two concurrent assignments cannot both win.
 */
export class ActionService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => Date,
    /** Told after each commit that opens or closes a device's action (read-your-writes). */
    private readonly changes: Pick<DeviceChangeFeed, 'announce'>,
  ) {}

  /** Assigns a release to one device (the device's class must match the release's). */
  async assign(
    ctx: ChangeContext,
    input: {
      deviceId: string;
      releaseId: string;
      downloadOnly?: boolean;
      maintenanceWindow?: MaintenanceWindow | null;
    },
  ): Promise<Action> {
    const at = this.now().toISOString();
    try {
      const action = await this.db.transaction().execute(async (trx) => {
        const device = await trx
          .selectFrom('devices')
          .select(['id', 'device_class_id', 'decommissioned_at'])
          .where('tenant_id', '=', ctx.tenantId)
          .where('id', '=', input.deviceId)
          .executeTakeFirst();
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
        const revoked = await trx
          .selectFrom('trusted_keys')
          .select('kid')
          .where('tenant_id', '=', ctx.tenantId)
          .where('device_class_id', '=', release.deviceClassId)
          .where('kid', 'in', [...release.signerKids, ''])
          .where('revoked_at', 'is not', null)
          .execute();
        if (revoked.length > 0) {
          throw new ServerError(
            'RELEASE_KEY_REVOKED',
            `release ${release.id} is signed by a revoked key`,
            {
              details: { kids: revoked.map((r) => r.kid) },
            },
          );
        }
        const open = await trx
          .selectFrom('actions')
          .select('id')
          .where('tenant_id', '=', ctx.tenantId)
          .where('open_key', '=', device.id)
          .executeTakeFirst();
        if (open !== undefined) {
          throw new ServerError(
            'ACTION_ALREADY_OPEN',
            `device ${device.id} already has open action ${open.id}`,
            {
              details: { actionId: open.id },
            },
          );
        }
        const row: ActionTable = {
          id: newId('act'),
          tenant_id: ctx.tenantId,
          device_id: device.id,
          release_id: release.id,
          state: 'assigned',
          cancel_requested: 0,
          download_only: input.downloadOnly === true ? 1 : 0,
          maintenance_window: input.maintenanceWindow
            ? JSON.stringify(input.maintenanceWindow)
            : null,
          open_key: device.id,
          revision: 1,
          created_at: at,
          created_by: ctx.actorId,
          updated_at: at,
        };
        await trx.insertInto('actions').values(row).execute();
        await this.#event(trx, row, at, {
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
    return this.db.transaction().execute(async (trx) => {
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
          {
            details: { state: row.state },
          },
        );
      }
      const updated: ActionTable = {
        ...row,
        cancel_requested: 1,
        revision: Number(row.revision) + 1,
        updated_at: at,
      };
      await this.#update(trx, row, updated);
      await this.#event(trx, row, at, {
        source: 'server',
        status: 'cancel_requested',
        actorId: ctx.actorId,
      });
      await this.#audit(trx, ctx, at, 'action.cancel', row.id, { deviceId: row.device_id }, 200);
      return toAction(updated);
    });
  }

  /**
   * Applies a device report to the device's own action. A reportId seen before is a replay:
   * the current state comes back and nothing is written.
   */
  async report(
    principal: { tenantId: string; deviceId: string },
    actionId: string,
    report: DeviceReport,
  ): Promise<ReportOutcome> {
    const at = this.now().toISOString();
    try {
      const outcome = await this.db.transaction().execute(async (trx) => {
        const row = await trx
          .selectFrom('actions')
          .selectAll()
          .where('tenant_id', '=', principal.tenantId)
          .where('device_id', '=', principal.deviceId)
          .where('id', '=', actionId)
          .executeTakeFirst();
        if (row === undefined)
          throw new ServerError('RESOURCE_NOT_FOUND', `action ${actionId} not found`);
        if (await this.#seen(trx, row.id, report.reportId))
          return { action: toAction(row), replayed: true };
        const snapshot = {
          state: row.state as ActionState,
          cancelRequested: Number(row.cancel_requested) === 1,
        };
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
        await this.#event(trx, row, at, {
          source: 'device',
          status: report.status,
          progress: report.progress,
          code: report.code,
          message: report.message,
          reportId: report.reportId,
        });
        return { action: toAction(updated), replayed: false };
      });
      // The device's next check-in (often right away) must see its action closed.
      if (!outcome.action.open) this.changes.announce(principal.tenantId, principal.deviceId);
      return outcome;
    } catch (error) {
      // Two copies of one report raced: the loser sees the winner's event and is a replay.
      if (isUniqueViolation(error)) {
        const row = await findAction(this.db, principal.tenantId, actionId);
        if (row !== undefined && (await this.#seen(this.db, row.id, report.reportId))) {
          return { action: toAction(row), replayed: true };
        }
      }
      throw error;
    }
  }

  async #seen(db: Db, actionId: string, reportId: string): Promise<boolean> {
    const hit = await db
      .selectFrom('action_events')
      .select('id')
      .where('action_id', '=', actionId)
      .where('report_id', '=', reportId)
      .executeTakeFirst();
    return hit !== undefined;
  }

  // Optimistic: the WHERE on the old revision makes a concurrent change lose instead of overwrite.
  async #update(
    trx: Transaction<Database>,
    before: ActionTable,
    after: ActionTable,
  ): Promise<void> {
    const r = await trx
      .updateTable('actions')
      .set({
        state: after.state,
        cancel_requested: after.cancel_requested,
        open_key: after.open_key,
        revision: after.revision,
        updated_at: after.updated_at,
      })
      .where('id', '=', before.id)
      .where('revision', '=', before.revision)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) {
      throw new ServerError('ACTION_TRANSITION_INVALID', 'the action changed concurrently; retry', {
        details: { state: before.state },
      });
    }
  }

  async #event(
    trx: Transaction<Database>,
    action: ActionTable,
    at: string,
    e: {
      source: 'server' | 'device';
      status: string;
      progress?: number | null;
      code?: string | null;
      message?: string | null;
      reportId?: string | null;
      actorId?: string | null;
    },
  ): Promise<void> {
    await trx
      .insertInto('action_events')
      .values({
        id: eventId(at),
        tenant_id: action.tenant_id,
        action_id: action.id,
        at,
        source: e.source,
        status: e.status,
        progress: e.progress ?? null,
        code: e.code ?? null,
        message: e.message ?? null,
        report_id: e.reportId ?? null,
        actor_id: e.actorId ?? null,
      })
      .execute();
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
