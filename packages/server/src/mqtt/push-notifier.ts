import { DEVICE_TOPICS, deviceTopicRoot, type PushNotice } from '@updraft/core';
import type { FastifyBaseLogger } from 'fastify';
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import type { MqttBus } from './mqtt-bus.js';

/**
 * Tells devices over MQTT that something waits for them (docs/mqtt.md). Every method returns at
 * once and never throws: a notice is a hint, polling stays the source of truth, so a broker that
 * is down must not fail the assignment, cancel or pause that caused it. Callers call after their
 * commit, so a device that checks in on the notice finds the change.
 */
export interface PushNotices {
  /** Actions were created (single assignment). */
  actionsCreated(tenantId: string, actionIds: readonly string[]): void;
  /** A campaign step created actions at `at` (fan-out); one query finds them all. */
  campaignActionsCreated(tenantId: string, campaignId: string, at: string): void;
  /** Cancellation of an action was requested. */
  cancelRequested(tenantId: string, actionId: string): void;
  /** A campaign paused: its devices with open actions are told. */
  campaignPaused(tenantId: string, campaignId: string): void;
  /** Resolves when every notice under way was published or failed. */
  settled(): Promise<void>;
}

/** Push off (`mqtt.mode=off`): nothing to tell. */
export const NO_PUSH: PushNotices = {
  actionsCreated() {},
  campaignActionsCreated() {},
  cancelRequested() {},
  campaignPaused() {},
  async settled() {},
};

/** Seconds a notice waits in the broker for an offline device (its next poll covers it anyway). */
export const NOTICE_EXPIRY_SECONDS = 300;
/** Most devices one pause or fan-out notice pass reads (set-based, one query). */
const MAX_NOTICES_PER_PASS = 100_000;
/** Notices published at once: a fan-out to many devices does not queue them all on the bus at once. */
const PUBLISH_BATCH = 1_000;

interface Target {
  readonly deviceName: string;
  readonly actionId: string;
  readonly campaignId: string | null;
}

/** Publishing failures and successes, counted (`updraft_mqtt_notices_total{result}`). */
export interface NoticeCounter {
  inc(labels: { result: 'published' | 'failed' }, value?: number): void;
}

/** {@link PushNotices} publishing on an {@link MqttBus}. */
export class PushNotifier implements PushNotices {
  readonly #pending = new Set<Promise<void>>();

  constructor(
    private readonly deps: {
      readonly db: Kysely<Database>;
      readonly bus: MqttBus;
      readonly now: () => Date;
      readonly logger: FastifyBaseLogger;
      readonly counter: NoticeCounter;
    },
  ) {}

  actionsCreated(tenantId: string, actionIds: readonly string[]): void {
    if (actionIds.length === 0) return;
    this.#run(tenantId, 'action-available', (db) =>
      targets(db, tenantId).where('a.id', 'in', [...actionIds]),
    );
  }

  campaignActionsCreated(tenantId: string, campaignId: string, at: string): void {
    this.#run(tenantId, 'action-available', (db) =>
      targets(db, tenantId)
        .where('a.campaign_id', '=', campaignId)
        .where('a.created_at', '=', at)
        .where('a.open_key', 'is not', null),
    );
  }

  cancelRequested(tenantId: string, actionId: string): void {
    this.#run(tenantId, 'action-cancelled', (db) =>
      targets(db, tenantId).where('a.id', '=', actionId),
    );
  }

  campaignPaused(tenantId: string, campaignId: string): void {
    this.#run(tenantId, 'campaign-paused', (db) =>
      targets(db, tenantId)
        .where('a.campaign_id', '=', campaignId)
        .where('a.open_key', 'is not', null),
    );
  }

  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  #run(
    tenantId: string,
    type: PushNotice['type'],
    query: (db: Kysely<Database>) => ReturnType<typeof targets>,
  ): void {
    const work = (async () => {
      let rows: Target[];
      try {
        rows = await query(this.deps.db).limit(MAX_NOTICES_PER_PASS).execute();
      } catch (error) {
        this.deps.logger.warn({ err: error, type }, 'push notice: devices not read');
        this.deps.counter.inc({ result: 'failed' });
        return;
      }
      const at = this.deps.now().toISOString();
      // A device whose name (or a tenant whose id) no MQTT identity can carry has no topic: it is
      // skipped (counted as failed, logged by id only) and every other device is still told.
      const unaddressable: Target[] = [];
      const addressed: Array<{ row: Target; topic: string }> = [];
      for (const row of rows) {
        try {
          addressed.push({
            row,
            topic: `${deviceTopicRoot(tenantId, row.deviceName)}/${DEVICE_TOPICS.notify}`,
          });
        } catch {
          unaddressable.push(row);
        }
      }
      if (unaddressable.length > 0) {
        this.deps.counter.inc({ result: 'failed' }, unaddressable.length);
        this.deps.logger.warn(
          {
            type,
            tenantId,
            skipped: unaddressable.length,
            actionIds: unaddressable.slice(0, 10).map((r) => r.actionId),
          },
          'push notices skipped: device name or tenant id not usable as an MQTT topic',
        );
      }
      const publish = ({ row, topic }: { row: Target; topic: string }) => {
        const notice: PushNotice = {
          type,
          ...(type === 'campaign-paused' ? {} : { actionId: row.actionId }),
          ...(row.campaignId !== null ? { campaignId: row.campaignId } : {}),
          at,
        };
        return this.deps.bus.publish(topic, JSON.stringify(notice), {
          qos: 1,
          contentType: 'application/json',
          messageExpirySeconds: NOTICE_EXPIRY_SECONDS,
        });
      };
      const results: PromiseSettledResult<unknown>[] = [];
      for (let i = 0; i < addressed.length; i += PUBLISH_BATCH) {
        const batch = addressed.slice(i, i + PUBLISH_BATCH);
        // `async`: a bus that throws instead of rejecting fails one notice, not the pass.
        results.push(...(await Promise.allSettled(batch.map(async (a) => publish(a)))));
      }
      const failed = results.filter((r) => r.status === 'rejected');
      if (addressed.length > failed.length)
        this.deps.counter.inc({ result: 'published' }, addressed.length - failed.length);
      if (failed.length > 0) {
        this.deps.counter.inc({ result: 'failed' }, failed.length);
        this.deps.logger.warn(
          { type, failed: failed.length, err: (failed[0] as PromiseRejectedResult).reason },
          'push notices not published (devices learn at their next poll)',
        );
      }
    })().catch((error: unknown) => {
      // Never an unhandled rejection: a notice is a hint, the process and later notices go on.
      this.deps.logger.error({ err: error, type }, 'push notice pass failed');
      this.deps.counter.inc({ result: 'failed' });
    });
    this.#pending.add(work);
    void work.finally(() => this.#pending.delete(work));
  }
}

function targets(db: Kysely<Database>, tenantId: string) {
  return db
    .selectFrom('actions as a')
    .innerJoin('devices as d', (j) =>
      j.onRef('d.id', '=', 'a.device_id').onRef('d.tenant_id', '=', 'a.tenant_id'),
    )
    .select(['d.name as deviceName', 'a.id as actionId', 'a.campaign_id as campaignId'])
    .where('a.tenant_id', '=', tenantId)
    .where('d.decommissioned_at', 'is', null);
}
