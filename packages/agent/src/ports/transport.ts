import type { FeedbackStatus } from '@updraft/core';

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

/** What the device reports at check-in. */
export interface CheckInRequest {
  readonly components: readonly InstalledComponent[];
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
}

/** One installed component as reported at check-in. */
export interface InstalledComponent {
  /** SUIT component identifier, lowercase hex of its CBOR encoding. */
  readonly id: string;
  readonly version: string;
  readonly sequenceNumber: number;
  /** SHA-256 hex of the installed image. */
  readonly digest: string;
}

/** Result of a check-in: 304 (nothing changed) or 200 with the answer. */
export type CheckInResult =
  | { readonly status: 304 }
  | { readonly status: 200; readonly etag: string | null; readonly body: CheckInResponse };

/** Body of a 200 check-in answer. */
export interface CheckInResponse {
  readonly pollIntervalSeconds: number;
  readonly action: DeviceAction | null;
}

/** An open action for this device. */
export interface DeviceAction {
  readonly id: string;
  readonly state: string;
  readonly cancelRequested: boolean;
  readonly downloadOnly: boolean;
  readonly maintenanceWindow: { readonly start: string; readonly end: string } | null;
  readonly release: {
    readonly id: string;
    readonly version: string;
    readonly sequenceNumber: number;
  };
  readonly envelopeUrl: string;
  readonly payloads: readonly PayloadRef[];
}

/** A payload of the release as served (the digest is of the served bytes). */
export interface PayloadRef {
  readonly digest: string;
  readonly size: number;
  readonly url: string;
}

/** An open payload download. */
export interface PayloadResponse {
  /** Offset of the first byte of `body` (equal to the requested offset, or 0 if Range was ignored). */
  readonly start: number;
  /** Total size of the resource when the server said so (Content-Range / Content-Length). */
  readonly totalSize: number | null;
  readonly body: AsyncIterable<Uint8Array>;
}

// Defined once in core for the agent and the service.
export { FEEDBACK_STATUSES, type FeedbackStatus } from '@updraft/core';

/** One feedback report. */
export interface FeedbackReport {
  readonly reportId: string;
  readonly status: FeedbackStatus;
  readonly progress: number | null;
  readonly code: string | null;
  readonly message: string | null;
}

/** How the service took a report: `accepted` (200), or `conflict` (409: illegal transition). */
export type FeedbackResult = 'accepted' | 'conflict';
