import type { ActionState } from '../actions/action-state-machine.js';

/**
 * The campaign vocabulary (docs/campaigns.md): types, states and their legal transitions, phase
 * states, and the status a target (one device in one campaign) is in. Pure data; the service and
 * the engine decide with these tables, nothing else.
 */

/** `one-shot`: targets fixed at start. `continuous`: devices that match later join until finished. */
export const CAMPAIGN_TYPES = ['one-shot', 'continuous'] as const;
export type CampaignType = (typeof CAMPAIGN_TYPES)[number];

export const CAMPAIGN_STATES = [
  'draft',
  'approved',
  'scheduled',
  'running',
  'paused',
  'finished',
  'cancelled',
] as const;
export type CampaignState = (typeof CAMPAIGN_STATES)[number];

/** Operations an operator (or the engine) applies to a campaign. */
export type CampaignOperation =
  | 'edit'
  | 'approve'
  | 'reject'
  | 'start'
  | 'schedule'
  | 'pause'
  | 'resume'
  | 'cancel'
  | 'finish';

/**
 * From which states each operation is legal. `start` from `draft` only when the tenant does not
 * require approval (the service checks that); `edit` of an approved campaign voids the approval.
 * The engine's own moves (scheduled → running at the time, running → paused on a threshold,
 * running → finished) use the same table.
 */
export const CAMPAIGN_OPERATIONS: Readonly<Record<CampaignOperation, readonly CampaignState[]>> = {
  edit: ['draft', 'approved'],
  approve: ['draft'],
  reject: ['draft', 'approved'],
  start: ['draft', 'approved', 'scheduled'],
  schedule: ['draft', 'approved'],
  pause: ['running'],
  resume: ['paused'],
  cancel: ['draft', 'approved', 'scheduled', 'running', 'paused'],
  finish: ['running', 'paused'],
};

/** True when `op` is legal in `state`. */
export function canApply(op: CampaignOperation, state: CampaignState): boolean {
  return CAMPAIGN_OPERATIONS[op].includes(state);
}

/** States in which the engine works on a campaign (fan-out, health, thresholds, continuous joins). */
export const ACTIVE_CAMPAIGN_STATES = ['running'] as const;
/** States after which nothing more happens. */
export const FINAL_CAMPAIGN_STATES = ['finished', 'cancelled'] as const;

/** Why a campaign is `paused`, or how it `finished`. */
export const STATE_REASONS = [
  'operator',
  'error-threshold',
  'manual-gate',
  'completed',
  // The engine cannot go on as the campaign is defined (docs/campaigns.md, "States").
  'filter-invalid',
  'release-unavailable',
  'release-revoked',
] as const;
export type StateReason = (typeof STATE_REASONS)[number];

/** A phase: `pending` (not reached), `running`, `paused` (its error threshold tripped), `passed`. */
export const PHASE_STATES = ['pending', 'running', 'paused', 'passed'] as const;
export type PhaseState = (typeof PHASE_STATES)[number];

/**
 * A target's status. `scheduled`: in the campaign but not given an action yet (its phase has not
 * come, or the device has another open action); `confirming`: the action succeeded and the
 * device is within its soak (health gating); `skipped`: no longer needs or can take the release
 * (already runs it or newer, decommissioned, moved to another class).
 */
export const TARGET_STATUSES = [
  'scheduled',
  'pending',
  'downloading',
  'installing',
  'confirming',
  'succeeded',
  'failed',
  'rejected',
  'cancelled',
  'skipped',
] as const;
export type TargetStatus = (typeof TARGET_STATUSES)[number];

/** Statuses after which a target needs nothing more. */
export const FINAL_TARGET_STATUSES: readonly TargetStatus[] = [
  'succeeded',
  'failed',
  'rejected',
  'cancelled',
  'skipped',
];

/** Statuses that count against a phase's error threshold. */
export const ERROR_TARGET_STATUSES: readonly TargetStatus[] = ['failed', 'rejected'];

/** The target status an action state maps to (`success` waits for health: `confirming`). */
export function targetStatusOfAction(state: ActionState): TargetStatus {
  switch (state) {
    case 'assigned':
      return 'pending';
    case 'downloading':
    case 'downloaded':
      return 'downloading';
    case 'installing':
    case 'rebooting':
      return 'installing';
    case 'success':
      return 'confirming';
    case 'failure':
      return 'failed';
    case 'rejected':
      return 'rejected';
    case 'canceled':
      return 'cancelled';
  }
}

/** Events in a campaign's log (and its SSE stream); the webhook events are named after them. */
export const CAMPAIGN_EVENT_TYPES = [
  'state_changed',
  'phase_started',
  'phase_advanced',
  'phase_paused',
  'progress',
] as const;
export type CampaignEventType = (typeof CAMPAIGN_EVENT_TYPES)[number];
