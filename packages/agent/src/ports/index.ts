export type { BootControl, BootStatus } from './boot-control.js';
export type { Clock } from './clock.js';
export type { ComponentHandler } from './component-handler.js';
export type { AgentNotice, EventSink } from './events.js';
export type { IdentityRenewal } from './identity-renewal.js';
export type { Logger } from './logger.js';
export type { InstallContext, Policy, PolicyVerdict } from './policy.js';
export type { Random } from './random.js';
export type { Slot, SlotSector } from './slot.js';
export type { StateStore } from './state-store.js';
export {
  type CheckInRequest,
  type CheckInResponse,
  type CheckInResult,
  type DeviceAction,
  FEEDBACK_STATUSES,
  type FeedbackReport,
  type FeedbackResult,
  type FeedbackStatus,
  type InstalledComponent,
  type PayloadRef,
  type PayloadResponse,
  type Transport,
} from './transport.js';
