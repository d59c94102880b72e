import type { ActionState, FeedbackStatus } from '../actions/action-state-machine.js';

/** hawkBit's `status.execution` values. */
export const DDI_EXECUTIONS = [
  'proceeding',
  'scheduled',
  'resumed',
  'downloading',
  'downloaded',
  'canceled',
  'rejected',
  'closed',
] as const;
export type DdiExecution = (typeof DDI_EXECUTIONS)[number];

/** hawkBit's `status.result.finished` values. */
export const DDI_FINISHED = ['success', 'failure', 'none'] as const;
export type DdiFinished = (typeof DDI_FINISHED)[number];

/** The report code of a DDI `closed`/`failure` (the client's `details` are its message). */
export const DDI_FAILURE = 'DDI_FAILURE';
/** The report code of a DDI `rejected`. */
export const DDI_REJECTED = 'DDI_REJECTED';

/**
 * What a DDI feedback means for an action: walk to `status` (through the legal intermediate
 * steps, see ActionService.reportWalk), or `note` (a progress message: recorded as the current
 * state again where the state machine allows it, else changes nothing).
 */
export type DdiFeedbackMeaning =
  | { readonly kind: 'walk'; readonly status: FeedbackStatus; readonly code: string | null }
  | { readonly kind: 'note' };

/**
 * THE mapping of DDI execution/result onto Updraft's action states (mirrored in
 * docs/hawkbit-ddi.md). A `Record` so a missing execution does not compile.
 */
export const DDI_FEEDBACK_TABLE: Readonly<
  Record<DdiExecution, (finished: DdiFinished) => DdiFeedbackMeaning>
> = {
  // Progress without a state of its own: the first one moves an `assigned` action on.
  proceeding: () => ({ kind: 'note' }),
  resumed: () => ({ kind: 'note' }),
  scheduled: () => ({ kind: 'note' }),
  downloading: () => ({ kind: 'walk', status: 'downloading', code: null }),
  downloaded: () => ({ kind: 'walk', status: 'downloaded', code: null }),
  canceled: () => ({ kind: 'walk', status: 'canceled', code: null }),
  rejected: () => ({ kind: 'walk', status: 'rejected', code: DDI_REJECTED }),
  // hawkBit closes an action as failed only for `failure`; `success` and `none` finish it.
  closed: (finished) =>
    finished === 'failure'
      ? { kind: 'walk', status: 'failure', code: DDI_FAILURE }
      : { kind: 'walk', status: 'success', code: null },
};

/**
 * The status a `note` is recorded as in state `state`: `downloading` for an action still
 * `assigned` (a client that proceeds has started), else the state itself (a self-loop).
 */
export function noteStatus(state: ActionState): FeedbackStatus | null {
  if (state === 'assigned') return 'downloading';
  return state;
}
