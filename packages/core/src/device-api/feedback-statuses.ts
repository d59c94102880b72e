/** Feedback statuses a device may report, in the order an action normally goes through them. */
export const FEEDBACK_STATUSES = [
  'downloading',
  'downloaded',
  'installing',
  'rebooting',
  'success',
  'failure',
  'rejected',
  'canceled',
] as const;
/** One feedback status. */
export type FeedbackStatus = (typeof FEEDBACK_STATUSES)[number];
