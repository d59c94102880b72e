/**
 * `@updraft/server`: the update service. Start it with {@link startServer}; build it without
 * listening (tests) with {@link buildServer}.
 *
 * @example
 * import { loadConfig, startServer } from '@updraft/server';
 * await startServer(loadConfig({ env: process.env }));
 */

export {
  PERMISSIONS,
  type Permission,
  ROLE_PERMISSIONS,
  ROLES,
  type Role,
} from './auth/permissions.js';
export { buildServer, type ServerDeps } from './build-server.js';
export {
  type LoadConfigOptions,
  loadConfig,
  redactConfig,
  SETTINGS,
  type ServerConfig,
  type Setting,
} from './config/config.js';
export {
  isServerErrorCode,
  SERVER_ERROR_CODES,
  ServerError,
  type ServerErrorCode,
} from './errors.js';
// What the management API answers (`/api/v1`), for clients such as the CLI (`import type` only).
export type {
  Action,
  ActionEvent,
} from './features/actions/action.service.js';
export type { FailureReason } from './features/campaigns/campaign.repository.js';
export type {
  Campaign,
  CampaignInput,
  CampaignPhase,
  CampaignReview,
  CampaignSettings,
  CampaignStatus,
  CampaignTarget,
  ErrorThreshold,
  Page,
  PhaseInput,
} from './features/campaigns/campaign.service.js';
export {
  CAMPAIGN_EVENT_TYPES,
  CAMPAIGN_STATES,
  CAMPAIGN_TYPES,
  type CampaignEventType,
  type CampaignState,
  type CampaignType,
  PHASE_STATES,
  type PhaseState,
  STATE_REASONS,
  type StateReason,
  TARGET_STATUSES,
  type TargetStatus,
} from './features/campaigns/campaign-states.js';
export type { TargetCounts } from './features/campaigns/campaign-stats.repository.js';
export type { DeltaBases, DeltaRecord } from './features/deltas/delta.repository.js';
export type {
  DeviceClassView,
  TrustedKeyView,
} from './features/device-classes/device-class.repository.js';
export type {
  AttributeValue,
  DeviceDetail,
  DeviceSummary,
} from './features/devices/device.repository.js';
export type { DeviceGroup } from './features/groups/group.repository.js';
export type { GroupView } from './features/groups/group.service.js';
export type { MenderAuthSetView } from './features/mender/mender.service.js';
export {
  MENDER_ACTION_ERROR_CODES,
  MENDER_STATUS_MAP,
  MENDER_STATUSES,
  type MenderActionErrorCode,
  type MenderStatus,
} from './features/mender/mender-status.js';
// The PKI service's API shapes, for the CLI's `updraft pki …` commands.
export type {
  DeviceCertificateView,
  ManufacturingCaView,
  TenantCaView,
} from './features/pki/pki.service.js';
export type {
  Release,
  ReleaseComponent,
  ReleasePayload,
} from './features/releases/release.repository.js';
export type { UploadSession } from './features/uploads/upload.service.js';
export type { TokenView } from './features/users/token.repository.js';
export type { UserView } from './features/users/user.repository.js';
export type { UpdraftApp } from './http/app-types.js';
export { type RunningServer, type StartServerOptions, startServer } from './main.js';
export { ExternalMqttBus, type ExternalMqttBusOptions } from './mqtt/external-mqtt-bus.js';
export type { MqttBus, MqttMessage, MqttPublishOptions } from './mqtt/mqtt-bus.js';
// The PKI core, for `updraft pki init` (offline: nothing here touches the network or a database).
export {
  type CertificateDescription,
  createIssuingCa,
  createRootCa,
  describeCertificate,
  issueServerCertificate,
  PkiError,
  type PkiKeyPair,
} from './pki/index.js';
export type { BlobInfo, BlobStore, ByteRange } from './ports/blob-store.js';
export type { TenantView } from './tenants/tenant.repository.js';
