import type { FeedbackStatus } from './feedback-statuses.js';

/**
 * One feedback report, `POST /api/device/v1/actions/{id}/feedback` (docs/device-api.md,
 * "Feedback"). The same `reportId` again is a replay and changes nothing.
 */
export interface FeedbackReport {
  readonly reportId: string;
  readonly status: FeedbackStatus;
  /** 0–100 with `downloading`. */
  readonly progress: number | null;
  /** With `failure`/`rejected`: the core, bootloader or agent error code. */
  readonly code: string | null;
  readonly message: string | null;
}

/** The service's `200` answer to a feedback report. */
export interface FeedbackAnswer {
  readonly id: string;
  /** The action's state after the report. */
  readonly state: string;
  readonly cancelRequested: boolean;
  /** True when the `reportId` was already recorded (nothing new was recorded). */
  readonly replayed: boolean;
}
