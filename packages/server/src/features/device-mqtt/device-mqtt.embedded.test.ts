import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { deviceTopicRoot } from '@updraft/core';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEFAULT_TENANT_ID } from '../../tenants/tenant.repository.js';
import { type Fleet, seedFleet, uploadRelease } from '../../testing/release-fixtures.js';
import { describeEachDialect } from '../../testing/test-database.js';
import { createTestServer, type TestServer } from '../../testing/test-server.js';

// The device API over MQTT through the real embedded broker (aedes over TLS 1.3, MQTT 3.1.1, so
// requests carry an in-band id and answers a one-line header), on every database dialect: a
// device's whole update conversation, and refusals of devices that may not use the API.

describeEachDialect('device API over MQTT (embedded broker)', (dialect) => {
  let server: TestServer;
  let fleet: Fleet;
  let port: number;
  let ca: string;
  const clients: MqttClient[] = [];
  const image = randomBytes(10_000);

  beforeAll(async () => {
    server = await createTestServer(dialect, { mqtt: { mode: 'embedded', port: 0 } });
    fleet = await seedFleet(server.app.updraft.db, { tenantId: DEFAULT_TENANT_ID, deviceCount: 3 });
    port = (await server.app.wiring.mqtt.start()) as number;
    ca = await readFile(path.join(server.dataDir, 'pki', 'ca.pem'), 'utf8');
    const headers = await server.adminHeaders();
    const releaseId = await uploadRelease(server.app, headers, fleet, 1, [image]);
    for (const device of fleet.devices) {
      const res = await server.app.inject({
        method: 'POST',
        url: '/api/v1/actions',
        headers: { ...headers, 'content-type': 'application/json' },
        payload: { deviceId: device.id, releaseId },
      });
      expect(res.statusCode).toBe(201);
    }
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.end(true);
    await server?.close();
  });

  async function connect(i: number): Promise<MqttClient> {
    const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, {
      protocolVersion: 4,
      ca,
      servername: 'localhost',
      reconnectPeriod: 0,
      username: 'device',
      password: fleet.devices[i]!.token,
    });
    clients.push(client);
    await client.subscribeAsync(`${root(i)}/res`, { qos: 1 });
    return client;
  }
  const root = (i: number) => deviceTopicRoot(DEFAULT_TENANT_ID, fleet.devices[i]!.id);

  /** Sends `request` with an in-band id; resolves with the answer's header and body. */
  async function ask(client: MqttClient, i: number, request: object) {
    const id = randomBytes(8).toString('hex');
    const answer = new Promise<{ header: Record<string, string>; body: Buffer }>((resolve) => {
      const on = (topic: string, payload: Buffer) => {
        const end = payload.indexOf(0x0a);
        const header = JSON.parse(payload.subarray(0, end).toString()) as Record<string, string>;
        if (topic !== `${root(i)}/res` || header.id !== id) return;
        client.removeListener('message', on);
        resolve({ header, body: payload.subarray(end + 1) });
      };
      client.on('message', on);
    });
    await client.publishAsync(`${root(i)}/req`, JSON.stringify({ ...request, id }), { qos: 1 });
    return answer;
  }

  it('runs check-in, envelope, chunks and feedback over the embedded broker', async () => {
    const client = await connect(0);
    const checkIn = await ask(client, 0, { op: 'check-in', report: {} });
    expect(checkIn.header.status).toBe('200');
    const answer = JSON.parse(checkIn.body.toString()) as {
      etag: string;
      body: { action: { id: string; envelopeUrl: string; payloads: { url: string }[] } };
    };
    const action = answer.body.action;
    const again = await ask(client, 0, { op: 'check-in', ifNoneMatch: answer.etag, report: {} });
    expect(again.header.status).toBe('304');

    const envelope = await ask(client, 0, { op: 'envelope', url: action.envelopeUrl });
    expect(envelope.header).toMatchObject({
      status: '200',
      contentType: 'application/suit-envelope+cose',
    });
    expect(envelope.body.length).toBeGreaterThan(100);

    const parts: Buffer[] = [];
    for (let offset = 0; offset < image.length; offset += 4096) {
      const chunk = await ask(client, 0, {
        op: 'payload',
        url: action.payloads[0]!.url,
        offset,
        length: 4096,
      });
      expect(chunk.header).toMatchObject({
        status: '200',
        offset: String(offset),
        total: String(image.length),
        length: String(chunk.body.length),
        sha256: createHash('sha256').update(chunk.body).digest('hex'),
      });
      parts.push(chunk.body);
    }
    expect(Buffer.concat(parts).equals(image)).toBe(true);

    const feedback = await ask(client, 0, {
      op: 'feedback',
      actionId: action.id,
      report: { reportId: 'mqtt-rep-01', status: 'downloading' },
    });
    expect(feedback.header.status).toBe('200');
    expect(JSON.parse(feedback.body.toString())).toMatchObject({
      id: action.id,
      state: 'downloading',
      replayed: false,
    });
  });

  // The broker re-checks a device when its record changes and may close its connection first;
  // whichever comes first, the device gets nothing but a refusal and nothing is recorded.
  const refusedOrClosed = async (client: MqttClient, i: number, request: object) =>
    !client.connected
      ? 'closed'
      : Promise.race([
          ask(client, i, request).then((a) => {
            expect(JSON.parse(a.body.toString())).toMatchObject({ code: 'MQTT_DEVICE_REFUSED' });
            return a.header.status;
          }),
          new Promise<string>((resolve) => client.once('close', () => resolve('closed'))),
        ]);

  it('refuses a device that is pending or decommissioned, recording nothing', async () => {
    const db = server.app.updraft.db;
    for (const [i, change] of [
      [1, { admission: 'pending' }],
      [2, { decommissioned_at: new Date().toISOString() }],
    ] as const) {
      const client = await connect(i);
      await db.updateTable('devices').set(change).where('id', '=', fleet.devices[i]!.id).execute();
      const outcome = await refusedOrClosed(client, i, {
        op: 'check-in',
        report: { attributes: { x: 1 } },
      });
      expect(['403', 'closed']).toContain(outcome);
      const reports = await db
        .selectFrom('device_reports')
        .select('device_id')
        .where('device_id', '=', fleet.devices[i]!.id)
        .execute();
      expect(reports).toHaveLength(0);
    }
  });
});
