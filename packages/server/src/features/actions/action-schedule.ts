import {
  type ActionType,
  isUpdraftError,
  type MaintenanceWindow,
  type RecurringMaintenanceWindow,
  RecurringWindow,
} from '@updraft/core';
import { ServerError } from '../../errors.js';
import type { ActionTable } from './action.table.js';

/** When and how a device may install an action: its type and its windows. */
export interface ActionSchedule {
  readonly type: ActionType;
  /** Derived from `type` (kept on the wire for older devices), never stored apart. */
  readonly downloadOnly: boolean;
  readonly forceAfter: string | null;
  readonly maintenanceWindow: MaintenanceWindow | null;
  readonly recurringWindow: RecurringMaintenanceWindow | null;
}

/** What an operator may send (every field optional; `downloadOnly` is the older spelling). */
export interface ActionScheduleInput {
  readonly type?: ActionType | undefined;
  readonly downloadOnly?: boolean | undefined;
  readonly forceAfter?: string | null | undefined;
  readonly maintenanceWindow?: MaintenanceWindow | null | undefined;
  readonly recurringWindow?: RecurringMaintenanceWindow | null | undefined;
}

/**
 * Checks an assignment's type and windows (a pure verdict: throws `ACTION_TYPE_INVALID` or
 * `ACTION_WINDOW_INVALID`, changes nothing) and returns the schedule to store.
 * `now` is only used to refuse a recurring window that never opens.
 */
export function resolveActionSchedule(input: ActionScheduleInput, now: number): ActionSchedule {
  const type: ActionType = input.type ?? (input.downloadOnly === true ? 'download-only' : 'soft');
  if (input.downloadOnly !== undefined && input.downloadOnly !== (type === 'download-only')) {
    throw new ServerError(
      'ACTION_TYPE_INVALID',
      `downloadOnly ${input.downloadOnly} contradicts type ${type}`,
    );
  }
  const forceAfter = input.forceAfter ?? null;
  if ((type === 'time-forced') !== (forceAfter !== null)) {
    throw new ServerError(
      'ACTION_TYPE_INVALID',
      type === 'time-forced'
        ? 'a time-forced action needs forceAfter'
        : `forceAfter is only for time-forced actions, not ${type}`,
    );
  }
  const window = input.maintenanceWindow ?? null;
  if (window !== null && !(Date.parse(window.start) < Date.parse(window.end))) {
    throw new ServerError('RESOURCE_INVALID', 'maintenanceWindow.start must be before its end');
  }
  const recurring = input.recurringWindow ?? null;
  if (recurring !== null) {
    let compiled: RecurringWindow;
    try {
      compiled = RecurringWindow.from(recurring);
    } catch (error) {
      if (!isUpdraftError(error)) throw error;
      throw new ServerError('ACTION_WINDOW_INVALID', `${error.message} (${error.code})`, {
        details: { reason: error.code },
      });
    }
    if (compiled.nextOpening(now) === null) {
      throw new ServerError(
        'ACTION_WINDOW_INVALID',
        `no window of "${recurring.cron}" opens within eight years (NEVER_OPENS)`,
        { details: { reason: 'NEVER_OPENS' } },
      );
    }
  }
  return {
    type,
    downloadOnly: type === 'download-only',
    forceAfter,
    maintenanceWindow: window,
    recurringWindow:
      recurring === null
        ? null
        : {
            cron: recurring.cron,
            durationSeconds: recurring.durationSeconds,
            timeZone: recurring.timeZone,
          },
  };
}

/** The stored schedule of an action row. */
export function scheduleOfRow(
  row: Pick<ActionTable, 'action_type' | 'force_after' | 'maintenance_window' | 'recurring_window'>,
): ActionSchedule {
  const type = row.action_type as ActionType;
  return {
    type,
    downloadOnly: type === 'download-only',
    forceAfter: row.force_after,
    maintenanceWindow:
      row.maintenance_window === null
        ? null
        : (JSON.parse(row.maintenance_window) as MaintenanceWindow),
    recurringWindow:
      row.recurring_window === null
        ? null
        : (JSON.parse(row.recurring_window) as RecurringMaintenanceWindow),
  };
}

/** The columns of a schedule, for an insert. */
export function scheduleColumns(
  s: ActionSchedule,
): Pick<
  ActionTable,
  'action_type' | 'download_only' | 'force_after' | 'maintenance_window' | 'recurring_window'
> {
  return {
    action_type: s.type,
    download_only: s.downloadOnly ? 1 : 0,
    force_after: s.forceAfter,
    maintenance_window: s.maintenanceWindow === null ? null : JSON.stringify(s.maintenanceWindow),
    recurring_window: s.recurringWindow === null ? null : JSON.stringify(s.recurringWindow),
  };
}
