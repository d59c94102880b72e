import type { Kysely } from 'kysely';
import { newId } from '../../auth/secrets.js';
import type { Database } from '../../db/database.js';
import { ServerError } from '../../errors.js';
import type { AuditedRun } from '../../http/audit-hook.js';
import { checkTargetUrl, type ResolveHost } from './target-guard.js';
import {
  countWebhooks,
  deleteWebhook,
  findWebhook,
  getAllowPrivateTargets,
  insertWebhook,
  listDeliveries,
  listWebhooks,
  setAllowPrivateTargets,
} from './webhook.repository.js';
import type { WebhookAttemptTable, WebhookDeliveryTable, WebhookTable } from './webhook.table.js';
import type { DeliveryState, WebhookEvent } from './webhook-events.js';
import type { WebhookOutbox } from './webhook-outbox.js';
import { WebhookSecretBox } from './webhook-secret-box.js';

/** Subscriptions one tenant may hold (each event is read against them in its transaction). */
export const MAX_WEBHOOKS_PER_TENANT = 50;

/** A subscription as the API shows it (never with its secret). */
export interface Webhook {
  readonly id: string;
  readonly url: string;
  readonly events: WebhookEvent[];
  readonly createdAt: string;
  readonly createdBy: string | null;
}

/** One delivery with its attempts, as the delivery log shows it. */
export interface WebhookDelivery {
  readonly id: string;
  readonly event: string;
  readonly state: DeliveryState;
  readonly occurredAt: string;
  readonly attempts: number;
  readonly nextAttemptAt: string | null;
  readonly log: Array<{
    readonly attempt: number;
    readonly at: string;
    readonly statusCode: number | null;
    readonly error: string | null;
    readonly durationMs: number;
  }>;
}

/** The tenant's webhook settings. */
export interface WebhookSettings {
  readonly allowPrivateTargets: boolean;
}

function toWebhook(row: WebhookTable): Webhook {
  return {
    id: row.id,
    url: row.url,
    events: JSON.parse(row.events) as WebhookEvent[],
    createdAt: row.created_at,
    createdBy: row.created_by,
  };
}

function toDelivery(d: WebhookDeliveryTable, attempts: WebhookAttemptTable[]): WebhookDelivery {
  return {
    id: d.id,
    event: d.event,
    state: d.state as DeliveryState,
    occurredAt: d.occurred_at,
    attempts: Number(d.attempts),
    nextAttemptAt: d.state === 'pending' ? d.next_attempt_at : null,
    log: attempts.map((a) => ({
      attempt: Number(a.attempt),
      at: a.at,
      statusCode: a.status_code === null ? null : Number(a.status_code),
      error: a.error,
      durationMs: Number(a.duration_ms),
    })),
  };
}

/**
 * Webhook subscriptions (the secret shown once, stored sealed), the delivery log, test
 * deliveries and the tenant's private-target setting. Changes run through the route's
 * {@link AuditedRun} (the audit entry never holds the secret).
 */
export class WebhookService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly outbox: WebhookOutbox,
    private readonly secrets: WebhookSecretBox,
    private readonly resolve: ResolveHost,
    private readonly now: () => Date,
  ) {}

  /** Subscribes `url`; the answer holds the signing secret, shown only this once. */
  async create(
    audit: AuditedRun,
    tenantId: string,
    actorId: string,
    input: { url: string; events: readonly WebhookEvent[] },
  ): Promise<{ webhook: Webhook; secret: string }> {
    const allowPrivate = await getAllowPrivateTargets(this.db, tenantId);
    const url = await checkTargetUrl(input.url, allowPrivate, this.resolve);
    const id = newId('whk');
    const secret = WebhookSecretBox.generate();
    const row: WebhookTable = {
      id,
      tenant_id: tenantId,
      url: url.href,
      events: JSON.stringify([...new Set(input.events)]),
      secret_box: this.secrets.seal(secret, tenantId, id),
      created_at: this.now().toISOString(),
      created_by: actorId,
    };
    await audit(async (trx) => {
      if ((await countWebhooks(trx, tenantId)) >= MAX_WEBHOOKS_PER_TENANT)
        throw new ServerError(
          'RESOURCE_CONFLICT',
          `a tenant may have at most ${MAX_WEBHOOKS_PER_TENANT} webhooks`,
        );
      await insertWebhook(trx, row);
      return {
        result: undefined,
        resourceId: id,
        // Only the origin: receivers often carry a credential in the path or query.
        change: { origin: url.origin, events: input.events },
      };
    }, 201);
    return { webhook: toWebhook(row), secret };
  }

  /** The tenant's webhooks (no secrets). */
  async list(tenantId: string): Promise<Webhook[]> {
    return (await listWebhooks(this.db, tenantId)).map(toWebhook);
  }

  /** Unsubscribes: the webhook, its pending deliveries and its log go. */
  async delete(audit: AuditedRun, tenantId: string, id: string): Promise<void> {
    await audit(async (trx) => {
      if (!(await deleteWebhook(trx, tenantId, id)))
        throw new ServerError('RESOURCE_NOT_FOUND', `no webhook ${id}`);
      return { result: undefined, resourceId: id };
    });
  }

  /** Queues a `webhook.test` delivery; answers its id (see the delivery log). */
  async test(audit: AuditedRun, tenantId: string, id: string): Promise<{ deliveryId: string }> {
    return audit(async (trx) => {
      if (!(await findWebhook(trx, tenantId, id)))
        throw new ServerError('RESOURCE_NOT_FOUND', `no webhook ${id}`);
      const deliveryId = await this.outbox.publishTest(trx, tenantId, id);
      return { result: { deliveryId }, resourceId: id, change: { deliveryId } };
    }, 202);
  }

  /** The webhook's latest deliveries, newest first, each with its attempts. */
  async deliveries(tenantId: string, id: string, limit: number): Promise<WebhookDelivery[]> {
    if (!(await findWebhook(this.db, tenantId, id)))
      throw new ServerError('RESOURCE_NOT_FOUND', `no webhook ${id}`);
    return (await listDeliveries(this.db, tenantId, id, limit)).map((d) =>
      toDelivery(d.delivery, d.attempts),
    );
  }

  /** The tenant's settings. */
  async settings(tenantId: string): Promise<WebhookSettings> {
    return { allowPrivateTargets: await getAllowPrivateTargets(this.db, tenantId) };
  }

  /** Changes the tenant's settings; answers them as they are now. */
  async setSettings(
    audit: AuditedRun,
    tenantId: string,
    settings: WebhookSettings,
  ): Promise<WebhookSettings> {
    await audit(async (trx) => {
      await setAllowPrivateTargets(
        trx,
        tenantId,
        settings.allowPrivateTargets,
        this.now().toISOString(),
      );
      return { result: undefined, resourceId: tenantId, change: { ...settings } };
    });
    return this.settings(tenantId);
  }
}
