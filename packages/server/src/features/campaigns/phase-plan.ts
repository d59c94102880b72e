import type { TargetCounts } from './campaign-stats.repository.js';

/**
 * The engine's arithmetic (docs/campaigns.md, "Phases"), pure so it can be tested alone: how many
 * targets a phase takes, whether a phase passed or must pause, whether a campaign is done.
 */

/** A phase's size: `percent` is cumulative over all targets, `count` adds that many. */
export interface PhaseSize {
  readonly percent: number | null;
  readonly count: number | null;
}

/** What a phase's verdict is computed from (the phase's own values, defaults applied). */
export interface PhaseThresholds {
  /** Percent of the phase's counted targets that must have succeeded. */
  readonly successThreshold: number;
  /** Pause when more than this percent failed or were rejected (null: not set). */
  readonly errorPercent: number | null;
  /** Pause when at least this many failed or were rejected (null: not set). */
  readonly errorCount: number | null;
  /** Errors an operator's resume accepted; only errors beyond these count. */
  readonly errorsAcknowledged: number;
}

export type PhaseVerdict = 'pause' | 'pass' | 'wait';

// p·N/100 in floating point can land a hair above an integer (7 % of 100 = 7.000000000000001).
const EPSILON = 1e-9;

/**
 * How many more targets phase `phase` must take now (0 when it has enough).
 * - percent: the phase has started when `ceil(percent/100 · total)` targets have entered a phase
 *   (cumulative), so it takes the difference to what `entered` (all phases) already holds;
 * - count: the phase itself holds `count` targets, so it takes the difference to
 *   `enteredThisPhase`.
 * Computed from the current state every time (idempotent; a continuous campaign's newcomers
 * raise `total` and the current phase takes its share of them).
 */
export function phaseTake(
  phase: PhaseSize,
  total: number,
  entered: number,
  enteredThisPhase: number,
): number {
  if (phase.percent !== null) {
    const want = Math.min(total, Math.ceil((phase.percent * total) / 100 - EPSILON));
    return Math.max(0, want - entered);
  }
  if (phase.count !== null) return Math.max(0, phase.count - enteredThisPhase);
  return 0;
}

/**
 * Targets a phase's thresholds are measured against: the ones it took, except those `skipped`
 * (they turned out not to need the release) or `cancelled` (an operator took them out).
 */
export function countedTargets(counts: TargetCounts): number {
  return counts.targets - counts.skipped - counts.cancelled;
}

/**
 * The verdict on a phase from its target counts: `pause` when its errors (failed + rejected,
 * minus those acknowledged by a resume) are more than `errorPercent` of its counted targets or
 * at least `errorCount`; else `pass` when at least `successThreshold` percent succeeded; else
 * `wait`. An empty phase passes.
 */
export function phaseVerdict(counts: TargetCounts, t: PhaseThresholds): PhaseVerdict {
  const counted = countedTargets(counts);
  const errors = counts.failed + counts.rejected - t.errorsAcknowledged;
  if (errors > 0) {
    if (t.errorCount !== null && errors >= t.errorCount) return 'pause';
    if (t.errorPercent !== null && errors * 100 > t.errorPercent * counted + EPSILON)
      return 'pause';
  }
  if (counts.succeeded * 100 + EPSILON >= t.successThreshold * counted) return 'pass';
  return 'wait';
}

/** Target statuses that keep a one-shot campaign from finishing (an action is under way). */
export const OPEN_TARGET_STATUSES = ['pending', 'downloading', 'installing', 'confirming'] as const;

/**
 * A one-shot campaign is done when its last phase has passed and none of its targets is
 * pending, downloading, installing or confirming (waiting `scheduled` ones do not hold it). A
 * continuous campaign runs until an operator finishes it.
 */
export function campaignFinished(
  type: string,
  lastPhasePassed: boolean,
  totals: TargetCounts,
): boolean {
  if (type !== 'one-shot' || !lastPhasePassed) return false;
  return OPEN_TARGET_STATUSES.every((s) => totals[s] === 0);
}
