/**
 * The device API's shared vocabulary (docs/device-api.md): what the agent sends and the service
 * accepts, defined once for the service, the agent and the CLI.
 */
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
  ReportedComponent,
} from './check-in.js';
export type { FeedbackAnswer, FeedbackReport } from './feedback.js';
export { FEEDBACK_STATUSES, type FeedbackStatus } from './feedback-statuses.js';
