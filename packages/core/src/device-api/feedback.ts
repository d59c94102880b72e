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
  /**
   * With `downloaded`: SHA-256 of each delta patch the device applied instead of a full payload.
   * Direct downloads (object store, CDN) never reach the service, so this is how it counts the
   * patch deliveries and the bytes they saved (docs/device-api.md, "Feedback").
   */
  readonly deltas?: readonly string[];
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
