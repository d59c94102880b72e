import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { deviceTopicRoot } from '@updraft/core';
import { createOpensslCa, type OpensslCa } from '@updraft/core/testing';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TENANT_ID } from '../tenants/tenant.repository.js';
import { type Mosquitto, startMosquitto } from '../testing/mosquitto.js';
import { type Fleet, seedFleet, uploadRelease } from '../testing/release-fixtures.js';
import { createTestServer, type TestServer } from '../testing/test-server.js';

// The external mode against the real mosquitto configured as docs/mqtt.md says: the service
// publishes through mqtt.js (MQTT 5) with its own certificate; devices connect with certificates
// whose subject becomes their username, confined by the ACL patterns.

let ca: OpensslCa;
let otherCa: OpensslCa;
let broker: Mosquitto;
let server: TestServer;
let fleet: Fleet;
let headers: Record<string, string>;
const clients: MqttClient[] = [];

function device(i: number, from: OpensslCa = ca): { cert: Buffer; key: Buffer } {
  const id = fleet.devices[i]!.id;
  const files = from.issue(
    `dev-${i}-${from === ca ? 'ok' : 'other'}`,
    `/O=${DEFAULT_TENANT_ID}/CN=${id}`,
    'clientAuth',
  );
  return { cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) };
}

function connect(at: Mosquitto, credentials: { cert: Buffer; key: Buffer }): Promise<MqttClient> {
  const client = mqtt.connect(at.url, {
    protocolVersion: 5,
    ca: ca.certificatePem,
    ...credentials,
    reconnectPeriod: 0,
    connectTimeout: 5_000,
  });
  clients.push(client);
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', reject);
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
}

const root = (i: number) => deviceTopicRoot(DEFAULT_TENANT_ID, fleet.devices[i]!.id);

beforeAll(async () => {
  ca = await createOpensslCa('test tenant CA');
  otherCa = await createOpensslCa('some other CA');
  const serverCert = ca.issue('broker', '/CN=localhost', 'serverAuth');
  const service = ca.issue('service', '/CN=updraft-service', 'clientAuth');
  broker = await startMosquitto({
    ca,
    serverCert,
    serviceUser: 'CN=updraft-service',
    crlFile: ca.emptyCrl(),
  });
  server = await createTestServer('sqlite', {
    mqtt: {
      mode: 'external',
      url: broker.url,
      certFile: service.certFile,
      keyFile: service.keyFile,
      caFile: ca.certFile,
    },
  });
  fleet = await seedFleet(server.app.updraft.db, { tenantId: DEFAULT_TENANT_ID, deviceCount: 3 });
  headers = await server.adminHeaders();
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.end(true);
  await server?.close();
  await broker?.stop();
  for (const dir of [ca?.dir, otherCa?.dir])
    if (dir) await rm(dir, { recursive: true, force: true });
});

describe('Mosquitto (external broker)', () => {
  it('delivers a new action notice within one second of assignment, with a message expiry, and the check-in carries the action', async () => {
    const client = await connect(broker, device(0));
    await client.subscribeAsync(`${root(0)}/notify`, { qos: 1 });
    const releaseId = await uploadRelease(server.app, headers, fleet, 1, [Buffer.from('fw')]);
    const arrived = new Promise<{ body: unknown; expiry: number | undefined; at: number }>(
      (resolve) =>
        client.once('message', (_t, payload, packet) =>
          resolve({
            body: JSON.parse(payload.toString()),
            expiry: packet.properties?.messageExpiryInterval,
            at: performance.now(),
          }),
        ),
    );
    const t0 = performance.now();
    const res = await server.app.inject({
      method: 'POST',
      url: '/api/v1/actions',
      headers: { ...headers, 'content-type': 'application/json' },
      payload: { deviceId: fleet.devices[0]!.id, releaseId },
    });
    expect(res.statusCode).toBe(201);
    const actionId = (JSON.parse(res.body) as { id: string }).id;
    const notice = await arrived;
    expect(notice.at - t0).toBeLessThan(1000);
    expect(notice.body).toMatchObject({ type: 'action-available', actionId });
    expect(notice.expiry).toBeGreaterThan(0);
    const checkIn = await server.app.inject({
      method: 'POST',
      url: '/api/device/v1/check-in',
      headers: {
        authorization: `Bearer ${fleet.devices[0]!.token}`,
        'content-type': 'application/json',
      },
      payload: { components: [], attributes: {} },
    });
    const body = JSON.parse(checkIn.body) as { action: { id: string }; push: unknown };
    expect(body.action.id).toBe(actionId);
    expect(body.push).toEqual({ url: broker.url, topicRoot: root(0) });
  });

  it("never delivers another device's messages and drops a publish on another device's request topic", async () => {
    const requests: string[] = [];
    const bus = server.app.wiring.mqtt.bus!;
    const stop = await bus.subscribe('updraft/v1/+/req', (m) =>
      requests.push(`${m.topic} ${m.payload.toString()}`),
    );
    const client = await connect(broker, device(1));
    const received: string[] = [];
    client.on('message', (topic) => received.push(topic));
    // Mosquitto 2.0 grants these SUBACKs but checks the read ACL on every message it would
    // deliver: nothing of another device's topics ever arrives.
    await client.subscribeAsync(`${root(2)}/notify`, { qos: 1 }).catch(() => undefined);
    await client.subscribeAsync('updraft/v1/#', { qos: 1 }).catch(() => undefined);
    await client.subscribeAsync(`${root(1)}/notify`, { qos: 1 });
    await bus.publish(`${root(2)}/notify`, 'for device 2', { qos: 1 });
    await bus.publish(`${root(1)}/notify`, 'for device 1', { qos: 1 });
    await expect.poll(() => received, { timeout: 2_000 }).toContain(`${root(1)}/notify`);
    await client.publishAsync(`${root(2)}/req`, 'forged', { qos: 1 }).catch(() => undefined);
    await client.publishAsync(`${root(1)}/req`, 'own', { qos: 1 });
    await expect.poll(() => requests, { timeout: 2_000 }).toContain(`${root(1)}/req own`);
    // Only device 1's own topics (its notice, and the service's answer to its request).
    expect(received.filter((t) => !t.startsWith(`${root(1)}/`))).toEqual([]);
    expect(requests.some((r) => r.includes('forged'))).toBe(false);
    await stop();
  });

  it('refuses a certificate of another CA in the TLS handshake', async () => {
    await expect(connect(broker, device(2, otherCa))).rejects.toThrow();
    // The same device with a certificate of the right CA connects.
    const ok = await connect(broker, device(2));
    expect(ok.connected).toBe(true);
  });

  it('refuses a certificate revoked in the crlfile', async () => {
    const creds = ca.issue(
      'revoked-dev',
      `/O=${DEFAULT_TENANT_ID}/CN=${fleet.devices[2]!.id}`,
      'clientAuth',
    );
    const cert = { cert: readFileSync(creds.certFile), key: readFileSync(creds.keyFile) };
    const crl = ca.revoke(creds.certFile);
    const revoking = await startMosquitto({
      ca,
      serverCert: ca.issue('broker2', '/CN=localhost', 'serverAuth'),
      serviceUser: 'CN=updraft-service',
      crlFile: crl,
    });
    try {
      await expect(connect(revoking, cert)).rejects.toThrow();
      // Not revoked: the broker with the empty CRL still takes it.
      const ok = await connect(broker, cert);
      expect(ok.connected).toBe(true);
    } finally {
      await revoking.stop();
    }
  });
});
