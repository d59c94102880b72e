import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { deviceTopicRoot } from '@updraft/core';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CampaignKit, campaignKit } from '../testing/campaign-fixtures.js';
import { createTestServer, type TestServer } from '../testing/test-server.js';

// Campaign notices through the embedded broker of a real server with the real campaign engine:
// the set-based fan-out tells every device of its new action, a pause tells the devices with
// open actions.

let server: TestServer;
let kit: CampaignKit;
const clients: MqttClient[] = [];
const notices = new Map<string, { type: string; campaignId?: string; actionId?: string }[]>();

beforeAll(async () => {
  server = await createTestServer('sqlite', { mqtt: { mode: 'embedded', port: 0 } });
  kit = await campaignKit(server, 3);
  const port = await server.app.wiring.mqtt.start();
  const ca = await readFile(path.join(server.dataDir, 'pki', 'ca.pem'), 'utf8');
  for (const device of kit.fleet.devices) {
    const client = mqtt.connect(`mqtts://127.0.0.1:${port}`, {
      protocolVersion: 4,
      ca,
      servername: 'localhost',
      username: 'device',
      password: device.token,
      reconnectPeriod: 0,
    });
    clients.push(client);
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    const topic = `${deviceTopicRoot(kit.fleet.tenantId, device.id)}/notify`;
    notices.set(device.id, []);
    client.on('message', (_t, payload) =>
      notices.get(device.id)!.push(JSON.parse(payload.toString())),
    );
    await client.subscribeAsync(topic, { qos: 1 });
  }
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.end(true);
  await server?.close();
});

describe('campaign push notices', () => {
  it("tells every device of its fan-out action within a second, and of the campaign's pause", async () => {
    const created = await kit.call('rollout-admin', 'POST', '/campaigns', {
      name: 'push',
      releaseId: kit.releaseId,
      filter: 'device.name != ""',
    });
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json().id as string;
    await kit.call('approver', 'POST', `/campaigns/${id}/approve`, {});
    const t0 = performance.now();
    const start = await kit.call('rollout-admin', 'POST', `/campaigns/${id}/start`, {});
    expect(start.statusCode, start.body).toBe(200);
    const all = () => [...notices.values()];
    await expect
      .poll(() => all().every((n) => n.some((x) => x.type === 'action-available')), {
        timeout: 1_000,
        interval: 10,
      })
      .toBe(true);
    expect(performance.now() - t0).toBeLessThan(1000);
    const actions = await server.app.updraft.db
      .selectFrom('actions')
      .select(['id', 'device_id'])
      .where('campaign_id', '=', id)
      .execute();
    expect(actions).toHaveLength(3);
    for (const a of actions)
      expect(notices.get(a.device_id)).toContainEqual(
        expect.objectContaining({ type: 'action-available', actionId: a.id, campaignId: id }),
      );

    const pause = await kit.call('rollout-admin', 'POST', `/campaigns/${id}/pause`, {});
    expect(pause.statusCode, pause.body).toBe(200);
    await expect
      .poll(() => all().every((n) => n.some((x) => x.type === 'campaign-paused')), {
        timeout: 1_000,
      })
      .toBe(true);
    for (const n of all())
      expect(n.find((x) => x.type === 'campaign-paused')).toMatchObject({ campaignId: id });
  });
});
