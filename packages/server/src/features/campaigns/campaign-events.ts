import type { Kysely, Transaction } from 'kysely';
import { newId } from '../../auth/secrets.js';
import type { Database } from '../../db/database.js';
import type { WebhookEvent } from '../webhooks/webhook-events.js';
import type { WebhookPublisher } from '../webhooks/webhook-outbox.js';
import type { CampaignEventTable } from './campaign.table.js';
import type { CampaignEventType } from './campaign-states.js';
import './campaign.table.js';

type Db = Kysely<Database> | Transaction<Database>;

/** The webhook event each campaign event is published as (`progress` is not a webhook event). */
const WEBHOOK_OF: Partial<Record<CampaignEventType, WebhookEvent>> = {
  state_changed: 'campaign.state_changed',
  phase_advanced: 'campaign.phase_advanced',
  phase_paused: 'campaign.phase_paused',
};

// Ids sort by time, then by a process-monotonic counter (a step writes several events with the
// same timestamp, and they must read back in the order written), then randomness: the SSE
// stream resumes after a Last-Event-ID by comparing ids.
function campaignEventId(at: string): string {
  const order = process.hrtime.bigint().toString().padStart(20, '0');
  return newId(`cev_${at.replaceAll(/[-:.TZ]/g, '')}_${order}`);
}

/**
 * Appends one event to the campaign's log and, for the subscribable ones, queues the webhook
 * deliveries, all inside `trx` (they commit with the change they describe). The webhook payload
 * is `{ campaign: { id, name }, ...data }`.
 */
export async function recordCampaignEvent(
  trx: Transaction<Database>,
  events: WebhookPublisher,
  campaign: { readonly id: string; readonly tenantId: string; readonly name: string },
  type: CampaignEventType,
  data: Readonly<Record<string, unknown>>,
  at: string,
): Promise<string> {
  const id = campaignEventId(at);
  await trx
    .insertInto('campaign_events')
    .values({
      id,
      tenant_id: campaign.tenantId,
      campaign_id: campaign.id,
      at,
      type,
      data: JSON.stringify(data),
    })
    .execute();
  const webhook = WEBHOOK_OF[type];
  if (webhook !== undefined) {
    await events.publish(trx, campaign.tenantId, webhook, {
      campaign: { id: campaign.id, name: campaign.name },
      ...data,
    });
  }
  return id;
}

/** The campaign's events after `afterId` (exclusive; all when undefined), oldest first. */
export async function campaignEventsAfter(
  db: Db,
  tenantId: string,
  campaignId: string,
  afterId: string | undefined,
  limit: number,
): Promise<CampaignEventTable[]> {
  return db
    .selectFrom('campaign_events')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('campaign_id', '=', campaignId)
    .$if(afterId !== undefined, (q) => q.where('id', '>', afterId!))
    .orderBy('id')
    .limit(limit)
    .execute();
}
