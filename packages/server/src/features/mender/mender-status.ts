import type { FeedbackStatus } from '../actions/action-state-machine.js';

/**
 * Codes Updraft writes into an action's history for Mender devices (docs/mender-api.md). They
 * are action failure reasons and history notes, not HTTP errors; listed in docs/errors.md.
 */
export const MENDER_ACTION_ERROR_CODES = [
  /** mender-client reported `failure` (its deployment log follows as a `MENDER_DEPLOYMENT_LOG` entry). */
  'MENDER_FAILURE',
  /** mender-client reported `noartifact`: nothing in the deployment fits the device. */
  'MENDER_NO_ARTIFACT',
  /** The release offered to a Mender device has no `.mender` payload: failed by the server. */
  'MENDER_PAYLOAD_MISSING',
  /** A deployment log uploaded by mender-client (its tail, bounded), kept in the history. */
  'MENDER_DEPLOYMENT_LOG',
] as const;
export type MenderActionErrorCode = (typeof MENDER_ACTION_ERROR_CODES)[number];

/** Deployment statuses mender-client 3.x reports (`PUT …/deployments/{id}/status`). */
export const MENDER_STATUSES = [
  'downloading',
  'pause_before_installing',
  'installing',
  'pause_before_rebooting',
  'rebooting',
  'pause_before_committing',
  'success',
  'failure',
  'already-installed',
  'noartifact',
] as const;
export type MenderStatus = (typeof MENDER_STATUSES)[number];

/** True for a status mender-client may report. */
export function isMenderStatus(value: unknown): value is MenderStatus {
  return (MENDER_STATUSES as readonly unknown[]).includes(value);
}

/** Where a Mender status takes an Updraft action, and the code a closing failure carries. */
export interface MenderStatusMapping {
  readonly to: FeedbackStatus;
  readonly code: MenderActionErrorCode | null;
  readonly why: string;
}

/**
 * The whole mapping (mirrored in docs/mender-api.md, checked by a test). The action walks to
 * `to` through the legal intermediate steps (`reportPath`), all in one transaction.
 */
export const MENDER_STATUS_MAP: Readonly<Record<MenderStatus, MenderStatusMapping>> = {
  downloading: { to: 'downloading', code: null, why: 'the artifact is being fetched' },
  pause_before_installing: {
    to: 'downloaded',
    code: null,
    why: 'downloaded and waiting before ArtifactInstall',
  },
  installing: { to: 'installing', code: null, why: 'ArtifactInstall runs' },
  pause_before_rebooting: {
    to: 'installing',
    code: null,
    why: 'installed, waiting before ArtifactReboot',
  },
  rebooting: { to: 'rebooting', code: null, why: 'ArtifactReboot runs' },
  pause_before_committing: {
    to: 'rebooting',
    code: null,
    why: 'rebooted into the update, waiting before ArtifactCommit',
  },
  success: { to: 'success', code: null, why: 'ArtifactCommit done' },
  failure: { to: 'failure', code: 'MENDER_FAILURE', why: 'any state failed; rolled back' },
  'already-installed': {
    to: 'success',
    code: null,
    why: 'the device already runs this artifact',
  },
  noartifact: {
    to: 'rejected',
    code: 'MENDER_NO_ARTIFACT',
    why: 'the device found nothing it can install',
  },
};
