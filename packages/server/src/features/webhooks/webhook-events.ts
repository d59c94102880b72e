/**
 * The events a tenant can subscribe a webhook to. Campaign events are published by the campaign
 * engine; `device.registered` by the devices feature; `action.failed` when an action ends in
 * `failure`. docs/webhooks.md lists each with its payload.
 */
export const WEBHOOK_EVENTS = [
  'campaign.state_changed',
  'campaign.phase_advanced',
  'campaign.phase_paused',
  'action.failed',
  'device.registered',
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** True when `value` is one of {@link WEBHOOK_EVENTS}. */
export function isWebhookEvent(value: unknown): value is WebhookEvent {
  return typeof value === 'string' && (WEBHOOK_EVENTS as readonly string[]).includes(value);
}

/** What a delivery carries: a subscribable event, or the test delivery of one webhook. */
export type DeliveryEvent = WebhookEvent | 'webhook.test';

/** A delivery's life: `pending` (due or waiting for a retry), then `delivered` or `failed`. */
export const DELIVERY_STATES = ['pending', 'delivered', 'failed'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];
