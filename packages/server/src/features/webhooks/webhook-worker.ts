import type { FastifyBaseLogger } from 'fastify';
import type { Kysely } from 'kysely';
import { newId } from '../../auth/secrets.js';
import type { Database } from '../../db/database.js';
import type { DialectSupport } from '../../db/dialect-support.js';
import {
  type ClaimedDelivery,
  claimDueDeliveries,
  pruneDeliveries,
  recordAttempt,
  releaseDeliveries,
} from './webhook.repository.js';
import type { WebhookSecretBox } from './webhook-secret-box.js';
import { webhookSignature } from './webhook-signature.js';
import type { WebhookResponse, WebhookTransport } from './webhook-transport.js';

/** The worker's settings (`webhooks.*` in the configuration). */
export interface WebhookWorkerOptions {
  readonly maxAttempts: number;
  readonly timeoutMs: number;
  readonly concurrency: number;
  readonly pollIntervalMs: number;
  readonly retryBaseSeconds: number;
  readonly retryMaxSeconds: number;
  readonly retentionDays: number;
}

const PRUNE_EVERY_MS = 3_600_000;

/** Bytes of a receiver's answer read at most (only its status is used). */
export const MAX_RESPONSE_BYTES = 65_536;

/**
 * The delay before attempt `failed + 1`, after `failed` failed attempts: exponential
 * (`retryBaseSeconds · 2^(failed−1)`, capped at `retryMaxSeconds`), then jittered into
 * [half, whole] so receivers that came back are not hit by every sender at once.
 */
export function retryDelayMs(
  failed: number,
  options: Pick<WebhookWorkerOptions, 'retryBaseSeconds' | 'retryMaxSeconds'>,
  random: () => number,
): number {
  const ceiling =
    Math.min(options.retryMaxSeconds, options.retryBaseSeconds * 2 ** Math.max(0, failed - 1)) *
    1000;
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** What the worker is built from (wired in build-server.ts). */
export interface WebhookWorkerDeps {
  readonly db: Kysely<Database>;
  readonly support: DialectSupport;
  readonly transport: WebhookTransport;
  readonly secrets: WebhookSecretBox;
  readonly now: () => Date;
  readonly logger: FastifyBaseLogger;
  readonly options: WebhookWorkerOptions;
  /** Jitter source in [0, 1) (default Math.random). */
  readonly random?: () => number;
}

/**
 * Sends the outbox: claims due deliveries (a lease per row; PostgreSQL replicas claim disjoint
 * rows with SKIP LOCKED), POSTs them signed, at most `concurrency` at once, records each attempt
 * and schedules retries with backoff until `maxAttempts`, then marks the delivery `failed`.
 * Delivery is at least once: a replica that dies mid-send leaves the lease to expire and another
 * sends again (receivers dedupe by `updraft-webhook-id`).
 */
export class WebhookWorker {
  readonly #deps: WebhookWorkerDeps;
  readonly #random: () => number;
  readonly #closing = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #pass: Promise<number> = Promise.resolve(0);
  #started = false;
  #prunedAt = Number.NEGATIVE_INFINITY;

  constructor(deps: WebhookWorkerDeps) {
    this.#deps = deps;
    this.#random = deps.random ?? Math.random;
  }

  /** Starts polling every `pollIntervalMs` (at once first). */
  start(): void {
    if (this.#started || this.#closing.signal.aborted) return;
    this.#started = true;
    this.#schedule(0);
  }

  /**
   * Claims and sends one batch of due deliveries now (after any pass under way); answers how
   * many were attempted. Tests drive the worker with it; the poll loop calls it too.
   */
  runOnce(): Promise<number> {
    const next = this.#pass.then(
      () => this.#batch(),
      () => this.#batch(),
    );
    this.#pass = next.catch(() => 0);
    return next;
  }

  /** Stops polling, aborts sends in flight (their rows go back unattempted) and waits. */
  async close(): Promise<void> {
    this.#closing.abort();
    if (this.#timer) clearTimeout(this.#timer);
    await this.#pass;
  }

  #schedule(delayMs: number): void {
    if (this.#closing.signal.aborted) return;
    this.#timer = setTimeout(() => {
      this.runOnce().then(
        (n) =>
          this.#schedule(
            n >= this.#deps.options.concurrency ? 0 : this.#deps.options.pollIntervalMs,
          ),
        (error: unknown) => {
          this.#deps.logger.error({ err: error }, 'webhook delivery pass failed');
          this.#schedule(this.#deps.options.pollIntervalMs);
        },
      );
    }, delayMs);
    this.#timer.unref();
  }

  async #batch(): Promise<number> {
    if (this.#closing.signal.aborted) return 0;
    const { db, support, now, options } = this.#deps;
    const at = now();
    // Finished deliveries are kept `retentionDays` for the log, then dropped (hourly look).
    if (at.getTime() - this.#prunedAt >= PRUNE_EVERY_MS) {
      this.#prunedAt = at.getTime();
      await pruneDeliveries(
        db,
        new Date(at.getTime() - options.retentionDays * 86_400_000).toISOString(),
      );
    }
    const lease = new Date(at.getTime() + options.timeoutMs + 30_000).toISOString();
    const claimed = await claimDueDeliveries(
      db,
      support,
      at.toISOString(),
      lease,
      options.concurrency,
    );
    await Promise.all(claimed.map((c) => this.#sendOne(c)));
    return claimed.length;
  }

  /** One delivery; a failure of our own (not the receiver's) is logged and counted as an attempt. */
  async #sendOne(claimed: ClaimedDelivery): Promise<void> {
    try {
      await this.#send(claimed);
    } catch (error) {
      const { delivery } = claimed;
      this.#deps.logger.error(
        { err: error, webhookId: delivery.webhook_id, deliveryId: delivery.id },
        'webhook delivery attempt broke',
      );
      // Counted, so a delivery that always breaks ends `failed` instead of looping for ever.
      await this.#record(claimed, { ok: false, error: 'internal error' }, 0).catch(() => {});
    }
  }

  async #send(claimed: ClaimedDelivery): Promise<void> {
    const { delivery } = claimed;
    const { transport, secrets, now, options } = this.#deps;
    const body = JSON.stringify({
      id: delivery.id,
      event: delivery.event,
      tenantId: delivery.tenant_id,
      occurredAt: delivery.occurred_at,
      data: JSON.parse(delivery.data) as unknown,
    });
    const timestamp = String(Math.floor(now().getTime() / 1000));
    const secret = secrets.open(claimed.secretBox, delivery.tenant_id, delivery.webhook_id);
    const started = performance.now();
    const response = await transport({
      url: claimed.url,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Updraft-Webhooks/1',
        'updraft-webhook-id': delivery.id,
        'updraft-webhook-timestamp': timestamp,
        'updraft-webhook-signature': webhookSignature(secret, timestamp, body),
      },
      body,
      allowPrivate: claimed.allowPrivate,
      timeoutMs: options.timeoutMs,
      maxResponseBytes: MAX_RESPONSE_BYTES,
      signal: this.#closing.signal,
    });
    const durationMs = Math.round(performance.now() - started);
    if (this.#closing.signal.aborted) {
      // Closing: the attempt did not finish; the row is due again for the next start.
      await releaseDeliveries(this.#deps.db, [delivery.id]);
      return;
    }
    const state = await this.#record(claimed, response, durationMs);
    if (state === 'failed')
      this.#deps.logger.warn(
        {
          webhookId: delivery.webhook_id,
          deliveryId: delivery.id,
          event: delivery.event,
          attempts: delivery.attempts + 1,
        },
        'webhook delivery failed for good',
      );
  }

  /** Writes the attempt and the delivery's next state; answers that state. */
  async #record(
    claimed: ClaimedDelivery,
    response: WebhookResponse,
    durationMs: number,
  ): Promise<string> {
    const { delivery } = claimed;
    const { now, options } = this.#deps;
    const attempt = delivery.attempts + 1;
    const delivered = response.ok && response.status >= 200 && response.status < 300;
    const finishedAt = now();
    const state = delivered ? 'delivered' : attempt >= options.maxAttempts ? 'failed' : 'pending';
    const nextAttemptAt =
      state === 'pending'
        ? new Date(
            finishedAt.getTime() + retryDelayMs(attempt, options, this.#random),
          ).toISOString()
        : delivery.next_attempt_at;
    await recordAttempt(
      this.#deps.db,
      {
        id: newId('wha'),
        tenant_id: delivery.tenant_id,
        delivery_id: delivery.id,
        attempt,
        at: finishedAt.toISOString(),
        status_code: response.ok ? response.status : null,
        error: response.ok ? null : response.error,
        duration_ms: durationMs,
      },
      { state, nextAttemptAt },
    );
    return state;
  }
}
