/** A rollout campaign (docs/campaigns.md). Timestamps ISO 8601 UTC; JSON as text; 0/1 booleans. */
export interface CampaignTable {
  id: string;
  tenant_id: string;
  name: string;
  release_id: string;
  /** The target filter (CEL, docs/filters.md). */
  filter: string;
  /** `one-shot` or `continuous` (CAMPAIGN_TYPES). */
  type: string;
  /** One of CAMPAIGN_STATES. */
  state: string;
  /** Why the campaign is in its state, e.g. `error-threshold` or `manual-gate` for `paused`. */
  state_reason: string | null;
  /** One of core's ACTION_TYPES: the type of every action the campaign creates. */
  action_type: string;
  /** ISO deadline of a `time-forced` campaign, else null. */
  force_after: string | null;
  /** JSON `{ cron, durationSeconds, timeZone }` or null. */
  recurring_window: string | null;
  /** Health gating: a device counts as succeeded only after it stayed healthy this long. */
  soak_seconds: number;
  /** A device that has not checked in this long after its soak ended counts as failed (silent). */
  health_timeout_seconds: number;
  /** The campaign's default success threshold (percent) for its phases; null: 95. */
  success_threshold?: number | null;
  /** The campaign's default error threshold, JSON `{ percent }` or `{ count }`; null: 10 %. */
  error_threshold?: string | null;
  /** Index of the phase in progress; -1 before the campaign started. */
  current_phase: number;
  /** When `start` was asked with a time: the time (state `scheduled` until then). */
  start_at: string | null;
  started_at: string | null;
  /** When the target set was first materialised (one-shot: fixed from then on). */
  materialised_at: string | null;
  finished_at: string | null;
  /** `approved` or `rejected` (the last review), null when not reviewed since the last edit. */
  review_decision: string | null;
  review_by: string | null;
  review_at: string | null;
  review_comment: string | null;
  /** Bumped on every change (optimistic concurrency; an edit voids an approval). */
  revision: number;
  created_by: string | null;
  created_at: string;
  updated_at: string;
}

/** One phase of a campaign, in order (`idx` from 0). */
export interface CampaignPhaseTable {
  tenant_id: string;
  campaign_id: string;
  idx: number;
  /** Cumulative share of all targets reached by the end of this phase (exclusive with count). */
  size_percent: number | null;
  /** Number of targets this phase adds (exclusive with percent). */
  size_count: number | null;
  /** Narrows the phase to targets that also match this filter (region by region). */
  filter: string | null;
  /** Percent of the phase's targets that must have succeeded (health-gated) to advance. */
  success_threshold: number;
  /** Pause when more than this percent of the phase's targets failed or were rejected. */
  error_threshold_percent: number | null;
  /** Pause when at least this many of the phase's targets failed or were rejected. */
  error_threshold_count: number | null;
  /** 0/1: after its success threshold, the campaign pauses (`manual-gate`) until resumed. */
  manual_gate: number;
  /** Errors an operator's `resume` accepted: the error threshold counts only errors beyond these. */
  errors_acknowledged: number;
  /** One of PHASE_STATES. */
  state: string;
  started_at: string | null;
  passed_at: string | null;
}

/** One device a campaign reaches, with its status in that campaign. */
export interface CampaignTargetTable {
  tenant_id: string;
  campaign_id: string;
  device_id: string;
  /** md5(campaign id ':' device id) in hex: the stable, fair order in which targets enter phases. */
  rank: string;
  /** The phase the target entered, null until one took it. */
  phase: number | null;
  /** Its action once fanned out (id derived from campaign and device), else null. */
  action_id: string | null;
  /** One of TARGET_STATUSES. */
  status: string;
  /** Error code of a failure, rejection or skip (`DEVICE_REVERTED`, `DEVICE_SILENT`, a report's code). */
  code: string | null;
  joined_at: string;
  /** Set when the action succeeded: checking in at or after this proves the device healthy. */
  healthy_after: string | null;
  /** Set when the action succeeded: still unproven at this time, the device counts as failed. */
  silent_after: string | null;
  updated_at: string;
}

/** Append-only log of what happened to a campaign (the SSE stream replays it). */
export interface CampaignEventTable {
  /** Sorts by time, then write order: `cev_<compact timestamp>_<monotonic counter>_<random>`. */
  id: string;
  tenant_id: string;
  campaign_id: string;
  at: string;
  /** One of CAMPAIGN_EVENT_TYPES. */
  type: string;
  /** JSON. */
  data: string;
}

/** A sample of a campaign's totals (the progress time series). */
export interface CampaignSampleTable {
  tenant_id: string;
  campaign_id: string;
  at: string;
  /** JSON of the totals (TARGET_STATUSES → count, plus `targets`). */
  counts: string;
}

/** Per-tenant campaign settings (absent row = defaults: approval required). */
export interface CampaignSettingsTable {
  tenant_id: string;
  /** 0/1 */
  approval_required: number;
  updated_at: string;
}

declare module '../../db/database.js' {
  interface Database {
    campaigns: CampaignTable;
    campaign_phases: CampaignPhaseTable;
    campaign_targets: CampaignTargetTable;
    campaign_events: CampaignEventTable;
    campaign_samples: CampaignSampleTable;
    campaign_settings: CampaignSettingsTable;
  }
}
