/**
 * The check-in exchange of the native device API (docs/device-api.md, "Check-in"):
 * `POST /api/device/v1/check-in`. Wire types only: the service validates the request with its own
 * schema, the agent validates the answer before trusting it.
 */

import type { ActionType } from './action-types.js';

/** A device attribute value as reported at check-in. */
export type DeviceAttributeValue = string | number | boolean;

/** One installed component, as Updraft's agent reports it (every field known). */
export interface InstalledComponent {
  /** SUIT component identifier, lowercase hex of its CBOR encoding (`componentIdToHex`). */
  readonly id: string;
  readonly version: string;
  readonly sequenceNumber: number;
  /** SHA-256 hex of the installed image. */
  readonly digest: string;
}

/**
 * One installed component as the service accepts it: other device clients may leave out (or send
 * null for) what they do not know. Every {@link InstalledComponent} is one.
 */
export interface ReportedComponent {
  readonly id: string;
  readonly version?: string | null | undefined;
  readonly sequenceNumber?: number | null | undefined;
  readonly digest?: string | null | undefined;
}

/** The check-in body Updraft's agent sends: the device's whole state. */
export interface CheckInRequest {
  readonly components: readonly InstalledComponent[];
  readonly attributes: Readonly<Record<string, DeviceAttributeValue>>;
}

/**
 * The check-in body as the service accepts it (both parts optional; a left-out part reads as
 * empty). Every {@link CheckInRequest} is one.
 */
export interface CheckInReport {
  readonly components?: readonly ReportedComponent[] | undefined;
  readonly attributes?: Readonly<Record<string, DeviceAttributeValue>> | undefined;
}

/** Body of a `200` check-in answer (a `304` has none). */
export interface CheckInResponse {
  readonly pollIntervalSeconds: number;
  readonly action: DeviceAction | null;
  /** Where the device may subscribe for push notices; absent when the service has MQTT off. */
  readonly push?: PushEndpoint | undefined;
}

/** The MQTT broker and topic root of the device's push notices (docs/mqtt.md). */
export interface PushEndpoint {
  /** `mqtts://host:port` */
  readonly url: string;
  /** `updraft/v1/CN=<device name>,O=<tenant id>`; notices arrive on `<topicRoot>/notify`. */
  readonly topicRoot: string;
}

/** Install only between `start` and `end` (ISO 8601); downloading is allowed outside. */
export interface MaintenanceWindow {
  readonly start: string;
  readonly end: string;
}

/**
 * A recurring maintenance window: one opens at each start the five-field cron expression names in
 * `timeZone` (IANA) and lasts `durationSeconds`. Evaluated by core's `RecurringWindow`.
 */
export interface RecurringMaintenanceWindow {
  readonly cron: string;
  readonly durationSeconds: number;
  readonly timeZone: string;
}

/** The device's open action, as the check-in answer carries it. */
export interface DeviceAction {
  readonly id: string;
  readonly state: string;
  readonly cancelRequested: boolean;
  /**
   * How the device treats the action (see {@link ActionType}). Absent from services older than
   * action types: read it with `actionTypeOf`.
   */
  readonly type?: ActionType | undefined;
  /** For `time-forced`: the instant (ISO 8601) from which the action is forced. */
  readonly forceAfter?: string | null | undefined;
  /** Kept for older devices: always `type === 'download-only'` (derived, never stored apart). */
  readonly downloadOnly: boolean;
  readonly maintenanceWindow: MaintenanceWindow | null;
  /** Install only inside one of these windows; downloading is allowed outside. */
  readonly recurringWindow?: RecurringMaintenanceWindow | null | undefined;
  readonly release: {
    readonly id: string;
    readonly version: string;
    readonly sequenceNumber: number;
  };
  /** Path (or URL) of the action's signed SUIT envelope. */
  readonly envelopeUrl: string;
  readonly payloads: readonly PayloadRef[];
}

/** A payload of the action's release as served (the digest is of the served bytes). */
export interface PayloadRef {
  /** The payload's SUIT component id (hex, as in the check-in request). */
  readonly component: string;
  readonly digest: string;
  readonly size: number;
  /** Signed download URL (Range, HEAD). */
  readonly url: string;
  /** A patch from the device's installed image, when the service has one ready. */
  readonly delta?: DeltaOffer | undefined;
}

/**
 * A payload's optional `delta` (docs/device-api.md, "Delta delivery"): a patch that turns the
 * installed image `baseDigest` into the payload. A transport encoding only: the device still
 * verifies the signed envelope and the rebuilt image's digest, never what the service says.
 */
export interface DeltaOffer {
  readonly baseDigest: string;
  readonly patchDigest: string;
  readonly patchSize: number;
  /** Signed URL, like the payload's own. */
  readonly url: string;
}

/** An action's type, reading a service that predates action types by its `downloadOnly` flag. */
export function actionTypeOf(action: Pick<DeviceAction, 'type' | 'downloadOnly'>): ActionType {
  return action.type ?? (action.downloadOnly ? 'download-only' : 'soft');
}
