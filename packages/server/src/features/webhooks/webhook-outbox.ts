import type { Transaction } from 'kysely';
import { newId } from '../../auth/secrets.js';
import type { Database } from '../../db/database.js';
import { insertDeliveries, listWebhooks } from './webhook.repository.js';
import type { WebhookDeliveryTable } from './webhook.table.js';
import type { DeliveryEvent, WebhookEvent } from './webhook-events.js';

/** What a feature needs to publish events (pass this, not the whole outbox). */
export interface WebhookPublisher {
  /**
   * Queues `event` for every webhook of the tenant subscribed to it, inside `trx`: the
   * deliveries commit with the change that caused them, or not at all.
   */
  publish(
    trx: Transaction<Database>,
    tenantId: string,
    event: WebhookEvent,
    data: Readonly<Record<string, unknown>>,
  ): Promise<void>;
  /** {@link publish} for several occurrences of one event at once (bulk registration). */
  publishEach(
    trx: Transaction<Database>,
    tenantId: string,
    event: WebhookEvent,
    items: ReadonlyArray<Readonly<Record<string, unknown>>>,
  ): Promise<void>;
}

/**
 * The webhook outbox: publishing writes delivery rows in the caller's transaction; the
 * {@link WebhookWorker} sends them later (and again after a restart).
 *
 * @example
 * await db.transaction().execute(async (trx) => {
 *   const devices = await createDevices(trx, tenantId, inputs, at);
 *   for (const { device } of devices) await outbox.publish(trx, tenantId, 'device.registered', { device });
 * });
 */
export class WebhookOutbox implements WebhookPublisher {
  constructor(private readonly now: () => Date) {}

  publish(
    trx: Transaction<Database>,
    tenantId: string,
    event: WebhookEvent,
    data: Readonly<Record<string, unknown>>,
  ): Promise<void> {
    return this.publishEach(trx, tenantId, event, [data]);
  }

  async publishEach(
    trx: Transaction<Database>,
    tenantId: string,
    event: WebhookEvent,
    items: ReadonlyArray<Readonly<Record<string, unknown>>>,
  ): Promise<void> {
    if (items.length === 0) return;
    // A tenant has few webhooks (bounded by the service): read them and match in memory.
    const targets = (await listWebhooks(trx, tenantId))
      .filter((w) => (JSON.parse(w.events) as string[]).includes(event))
      .map((w) => w.id);
    if (targets.length === 0) return;
    for (const data of items) await this.#enqueue(trx, tenantId, targets, event, data);
  }

  /** Queues a `webhook.test` delivery to one webhook; answers its delivery id. */
  async publishTest(
    trx: Transaction<Database>,
    tenantId: string,
    webhookId: string,
  ): Promise<string> {
    const [id] = await this.#enqueue(trx, tenantId, [webhookId], 'webhook.test', {
      webhookId,
      message: 'Test delivery from Updraft',
    });
    return id as string;
  }

  async #enqueue(
    trx: Transaction<Database>,
    tenantId: string,
    webhookIds: readonly string[],
    event: DeliveryEvent,
    data: Readonly<Record<string, unknown>>,
  ): Promise<string[]> {
    const at = this.now().toISOString();
    const json = JSON.stringify(data);
    const rows: WebhookDeliveryTable[] = webhookIds.map((webhookId) => ({
      id: newId('whd'),
      tenant_id: tenantId,
      webhook_id: webhookId,
      event,
      data: json,
      occurred_at: at,
      state: 'pending',
      attempts: 0,
      next_attempt_at: at,
      locked_until: null,
      updated_at: at,
    }));
    await insertDeliveries(trx, rows);
    return rows.map((r) => r.id);
  }
}
