import type { CheckInRequest, CheckInResponse, FeedbackReport } from '@updraft/core';

/**
 * The agent's view of the update service's native device API (docs/device-api.md).
 * The agent ships an HTTP implementation (`HttpTransport`); the simulator may plug in its own.
 * Every method rejects with `AgentError` on failure: `AGENT_SERVER_UNREACHABLE` (no answer),
 * `AGENT_AUTH_REJECTED` (401/403), `AGENT_SERVER_ERROR` (another status), `AGENT_NETWORK_ERROR`
 * (connection lost mid-answer), `AGENT_RESPONSE_INVALID`, …
 */
export interface Transport {
  /** `POST /check-in`. `etag` from the previous 200 makes an unchanged answer a cheap 304. */
  checkIn(request: CheckInRequest, etag: string | null): Promise<CheckInResult>;
  /** `GET <envelopeUrl>`: the signed SUIT envelope, at most `maxBytes` long. */
  fetchEnvelope(url: string, maxBytes: number): Promise<Uint8Array>;
  /**
   * `GET <payload url>` from byte `offset` (a `Range: bytes=offset-` request when offset > 0).
   * The body is read lazily; `signal` aborts the request (stall timeout, shutdown).
   */
  openPayload(url: string, offset: number, signal: AbortSignal): Promise<PayloadResponse>;
  /** `POST /actions/{id}/feedback`. A replayed `reportId` is harmless by contract. */
  sendFeedback(actionId: string, report: FeedbackReport): Promise<FeedbackResult>;
}

/** Result of a check-in: 304 (nothing changed) or 200 with the answer. */
export type CheckInResult =
  | { readonly status: 304 }
  | { readonly status: 200; readonly etag: string | null; readonly body: CheckInResponse };

/** An open payload download. */
export interface PayloadResponse {
  /** Offset of the first byte of `body` (equal to the requested offset, or 0 if Range was ignored). */
  readonly start: number;
  /** Total size of the resource when the server said so (Content-Range / Content-Length). */
  readonly totalSize: number | null;
  readonly body: AsyncIterable<Uint8Array>;
}

// The wire types are defined once in core, for the agent, the service and the CLI.
export {
  type CheckInRequest,
  type CheckInResponse,
  type DeltaOffer,
  type DeviceAction,
  FEEDBACK_STATUSES,
  type FeedbackReport,
  type FeedbackStatus,
  type InstalledComponent,
  type PayloadRef,
} from '@updraft/core';

/** How the service took a report: `accepted` (200), or `conflict` (409: illegal transition). */
export type FeedbackResult = 'accepted' | 'conflict';
