import { DEVICE_TOPICS, deviceTopicRoot } from '@updraft/core';
import type { FastifyBaseLogger } from 'fastify';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { type CampaignKit, campaignKit } from '../testing/campaign-fixtures.js';
import { describeEachDialect } from '../testing/test-database.js';
import { createTestServer, type TestServer } from '../testing/test-server.js';
import type { MqttBus } from './mqtt-bus.js';
import { PushNotifier } from './push-notifier.js';

describeEachDialect('push notifier', (dialect) => {
  let server: TestServer;
  let kit: CampaignKit;
  let actions: { id: string; device_id: string }[];

  beforeAll(async () => {
    server = await createTestServer(dialect);
    kit = await campaignKit(server, 3);
    const created = await kit.call('rollout-admin', 'POST', '/campaigns', {
      name: 'notify',
      releaseId: kit.releaseId,
      filter: 'device.name != ""',
    });
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json().id as string;
    await kit.call('approver', 'POST', `/campaigns/${id}/approve`, {});
    expect((await kit.call('rollout-admin', 'POST', `/campaigns/${id}/start`, {})).statusCode).toBe(
      200,
    );
    // The fan-out runs after the start answers.
    const read = () =>
      server.app.updraft.db
        .selectFrom('actions')
        .select(['id', 'device_id'])
        .where('campaign_id', '=', id)
        .orderBy('device_id')
        .execute();
    actions = await vi.waitFor(
      async () => {
        const rows = await read();
        if (rows.length !== 3) throw new Error(`${rows.length} actions so far`);
        return rows;
      },
      { timeout: 10_000, interval: 20 },
    );
  }, 60_000);

  afterAll(async () => {
    await server?.close();
  });

  it('skips a device no MQTT topic can name, logs and counts it, and still tells the others', async () => {
    // A name a birth certificate's CN may carry but an MQTT identity cannot (a space).
    const bad = actions[1]!;
    await server.app.updraft.db
      .updateTable('devices')
      .set({ name: 'bad name' })
      .where('id', '=', bad.device_id)
      .execute();
    const published: string[] = [];
    const bus: MqttBus = {
      async publish(topic) {
        published.push(topic);
      },
      subscribe: () => Promise.reject(new Error('not used')),
      close: async () => {},
    };
    const warn = vi.fn();
    const error = vi.fn();
    const logger = { warn, error } as unknown as FastifyBaseLogger;
    const counts: Record<string, number> = {};
    const unhandled = vi.fn();
    process.on('unhandledRejection', unhandled);
    try {
      const notifier = new PushNotifier({
        db: server.app.updraft.db,
        bus,
        now: () => new Date(),
        logger,
        counter: {
          inc: ({ result }, value = 1) => {
            counts[result] = (counts[result] ?? 0) + value;
          },
        },
      });
      notifier.actionsCreated(
        kit.fleet.tenantId,
        actions.map((a) => a.id),
      );
      await notifier.settled();
      // The notifier keeps working for the next notice.
      notifier.cancelRequested(kit.fleet.tenantId, actions[0]!.id);
      await notifier.settled();
      await new Promise((resolve) => setImmediate(resolve));

      const good = actions.filter((a) => a !== bad).map((a) => a.device_id);
      const topics = good.map(
        (name) => `${deviceTopicRoot(kit.fleet.tenantId, name)}/${DEVICE_TOPICS.notify}`,
      );
      expect(published).toEqual([...topics, topics[0]]);
      expect(counts).toEqual({ published: 3, failed: 1 });
      expect(unhandled).not.toHaveBeenCalled();
      expect(error).not.toHaveBeenCalled();
      expect(warn).toHaveBeenCalledTimes(1);
      const [fields, message] = warn.mock.calls[0]!;
      expect(message).toMatch(/not usable as an MQTT topic/);
      expect(fields).toMatchObject({ skipped: 1, actionIds: [bad.id] });
    } finally {
      process.off('unhandledRejection', unhandled);
    }
  });
});
