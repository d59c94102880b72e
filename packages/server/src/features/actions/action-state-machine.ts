import { FEEDBACK_STATUSES, type FeedbackStatus } from '@updraft/core';

/**
 * The action state machine, hawkBit's shape: an action carries a deployment (a release for one
 * device); the device sends feedback (execution status, progress, result code); the server may
 * request cancellation, which the device acknowledges with `canceled`.
 *
 * Transitions are data (one table); anything not in the table is an illegal transition.
 */

/** Every state an action can be in: `assigned` (initial, set by the server), then what devices report. */
export const ACTION_STATES = ['assigned', ...FEEDBACK_STATUSES] as const;
export type ActionState = (typeof ACTION_STATES)[number];

/** Runtime guard for {@link ActionState}. */
export function isActionState(value: unknown): value is ActionState {
  return typeof value === 'string' && (ACTION_STATES as readonly string[]).includes(value);
}

// Statuses a device may report (every state except the server-set `assigned`): defined in core,
// shared with the agent.
export { FEEDBACK_STATUSES, type FeedbackStatus } from '@updraft/core';

/** Runtime guard for {@link FeedbackStatus}. */
export function isFeedbackStatus(value: unknown): value is FeedbackStatus {
  return typeof value === 'string' && (FEEDBACK_STATUSES as readonly string[]).includes(value);
}

/** States after which nothing more happens to an action. */
export const TERMINAL_STATES = ['success', 'failure', 'rejected', 'canceled'] as const;

/** True when the action is closed (no further report is legal). */
export function isTerminal(state: ActionState): boolean {
  return (TERMINAL_STATES as readonly string[]).includes(state);
}

/** One row of the transition table. `needsCancel` rows are legal only after a cancel request. */
export interface ActionTransition {
  readonly from: ActionState;
  readonly on: FeedbackStatus;
  readonly needsCancel?: boolean;
}

// Self-loops on non-terminal states keep a device that repeats a report after a power cut from
// being refused; `downloaded → downloading` lets it fetch again after a failed verification.
const rows = (from: ActionState, ons: readonly FeedbackStatus[]): ActionTransition[] =>
  ons.map((on) => ({ from, on }));
const cancelRow = (from: ActionState): ActionTransition => ({
  from,
  on: 'canceled',
  needsCancel: true,
});

/** The whole table: the target state of a transition is always the reported status. */
export const ACTION_TRANSITIONS: readonly ActionTransition[] = Object.freeze([
  ...rows('assigned', ['downloading', 'downloaded', 'rejected', 'failure']),
  cancelRow('assigned'),
  ...rows('downloading', ['downloading', 'downloaded', 'rejected', 'failure']),
  cancelRow('downloading'),
  ...rows('downloaded', ['downloaded', 'downloading', 'installing', 'rejected', 'failure']),
  cancelRow('downloaded'),
  ...rows('installing', ['installing', 'rebooting', 'success', 'failure']),
  ...rows('rebooting', ['rebooting', 'success', 'failure']),
]);

/** What a device reports; validated at the HTTP boundary before it gets here. */
export interface FeedbackReport {
  readonly status: FeedbackStatus;
  readonly progress?: number | null;
  readonly code?: string | null;
}

/** The part of an action the state machine decides on. */
export interface ActionSnapshot {
  readonly state: ActionState;
  readonly cancelRequested: boolean;
}

/** The verdict: `ok` with the next state, or the reason the report is refused. */
export type TransitionVerdict =
  | { readonly ok: true; readonly to: ActionState }
  | { readonly ok: false; readonly reason: string };

/** Decides whether `report` is legal for `action`. Pure: no I/O, no clock. */
export function nextActionState(action: ActionSnapshot, report: FeedbackReport): TransitionVerdict {
  if (isTerminal(action.state)) {
    return { ok: false, reason: `action is closed (${action.state})` };
  }
  const row = ACTION_TRANSITIONS.find((t) => t.from === action.state && t.on === report.status);
  if (row === undefined) {
    return { ok: false, reason: `'${report.status}' is not allowed after '${action.state}'` };
  }
  if (row.needsCancel === true && !action.cancelRequested) {
    return { ok: false, reason: `'canceled' is only allowed after a cancel request` };
  }
  if (report.status === 'downloading' && report.progress != null) {
    if (!Number.isInteger(report.progress) || report.progress < 0 || report.progress > 100) {
      return { ok: false, reason: 'progress must be an integer 0..100' };
    }
  }
  if ((report.status === 'failure' || report.status === 'rejected') && !report.code) {
    return { ok: false, reason: `'${report.status}' needs a code` };
  }
  return { ok: true, to: report.status };
}

/** Whether the server may request cancellation of an action in this state. */
export function canRequestCancel(action: ActionSnapshot): boolean {
  return (
    !isTerminal(action.state) &&
    ACTION_TRANSITIONS.some((t) => t.from === action.state && t.on === 'canceled')
  );
}

/**
 * The shortest sequence of reports that takes an action from `from` to `to` through legal
 * transitions, or null when there is none. Clients of foreign protocols (hawkBit DDI, Mender)
 * skip states Updraft's agent reports — e.g. `closed`/success straight after `proceeding` —
 * and their adapters replay the skipped steps so the action history stays a legal walk.
 * `canceled` is reachable only when a cancel was requested; the path never passes through a
 * terminal state. Includes `to` as its last step; empty when `from === to`.
 */
export function reportPath(
  from: ActionState,
  to: FeedbackStatus,
  cancelRequested = false,
): FeedbackStatus[] | null {
  if (from === to) return [];
  if (isTerminal(from)) return null;
  const previous = new Map<ActionState, { state: ActionState; on: FeedbackStatus }>();
  const queue: ActionState[] = [from];
  while (queue.length > 0) {
    const state = queue.shift() as ActionState;
    for (const t of ACTION_TRANSITIONS) {
      if (t.from !== state || previous.has(t.on) || t.on === from) continue;
      if (t.needsCancel === true && !cancelRequested) continue;
      previous.set(t.on, { state, on: t.on });
      if (t.on === to) {
        const path: FeedbackStatus[] = [];
        for (let at: ActionState = to; at !== from; ) {
          const step = previous.get(at) as { state: ActionState; on: FeedbackStatus };
          path.unshift(step.on);
          at = step.state;
        }
        return path;
      }
      if (!isTerminal(t.on)) queue.push(t.on);
    }
  }
  return null;
}
