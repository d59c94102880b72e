/**
 * The device API's shared vocabulary (docs/device-api.md): what the agent sends and the service
 * accepts, defined once for the service, the agent and the CLI.
 */

export { ACTION_TYPES, type ActionType, isActionType, policyMayDefer } from './action-types.js';
export type {
  CheckInReport,
  CheckInRequest,
  CheckInResponse,
  DeltaOffer,
  DeviceAction,
  DeviceAttributeValue,
  InstalledComponent,
  MaintenanceWindow,
  PayloadRef,
  PushEndpoint,
  RecurringMaintenanceWindow,
  ReportedComponent,
} from './check-in.js';
export { actionTypeOf } from './check-in.js';
export type { FeedbackAnswer, FeedbackReport } from './feedback.js';
export { FEEDBACK_STATUSES, type FeedbackStatus } from './feedback-statuses.js';
export {
  DEVICE_TOPICS,
  deviceMqttIdentity,
  deviceTopicRoot,
  PUSH_NOTICE_TYPES,
  type PushNotice,
  type PushNoticeType,
  parseDeviceTopic,
  parsePushNotice,
} from './mqtt-topics.js';
