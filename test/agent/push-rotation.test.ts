import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PushChannel, type PushCredentials } from '@updraft/agent';
import { deviceTopicRoot } from '@updraft/core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEFAULT_TENANT_ID } from '../../packages/server/src/tenants/tenant.repository.js';
import { issueTestDeviceCertificate } from '../../packages/server/src/testing/device-certificates.js';
import { type Fleet, seedFleet } from '../../packages/server/src/testing/release-fixtures.js';
import {
  createTestServer,
  type TestServer,
} from '../../packages/server/src/testing/test-server.js';

// The agent's push channel through the real embedded broker: after the device rotated its
// certificate and the old one was revoked (the broker closes that connection at once), the
// channel's automatic reconnect presents the new certificate and notices arrive again.

let server: TestServer;
let fleet: Fleet;
let port: number;

beforeAll(async () => {
  server = await createTestServer('sqlite', { mqtt: { mode: 'embedded', port: 0 } });
  fleet = await seedFleet(server.app.updraft.db, { tenantId: DEFAULT_TENANT_ID, deviceCount: 1 });
  port = (await server.app.wiring.mqtt.start()) as number;
}, 60_000);

afterAll(async () => {
  await server?.close();
});

it('reconnects with the rotated certificate after the old one is revoked', async () => {
  const device = fleet.devices[0]!;
  const who = { tenantId: DEFAULT_TENANT_ID, deviceId: device.id, deviceName: device.id };
  const caKey = server.app.updraft.deriveKey('pki-ca-key');
  const ca = await readFile(join(server.dataDir, 'pki', 'ca.pem'));
  const first = await issueTestDeviceCertificate(server.app.updraft.db, caKey, who);
  let current = first;
  const credentials = (): PushCredentials => ({
    ca,
    certificate: { cert: current.certificatePem, key: current.privateKeyPem },
  });
  let notices = 0;
  const channel = new PushChannel(credentials, () => {
    notices += 1;
  });
  try {
    channel.offer({
      url: `mqtts://localhost:${port}`,
      topicRoot: deviceTopicRoot(DEFAULT_TENANT_ID, device.id),
    });
    await channel.ready();
    expect(channel.connected).toBe(true);

    // Rotation: a new certificate, then the old one revoked; the broker drops the connection.
    current = await issueTestDeviceCertificate(server.app.updraft.db, caKey, who);
    await server.app.updraft.db
      .updateTable('device_certificates')
      .set({ state: 'revoked', revoked_at: new Date().toISOString() })
      .where('id', '=', first.id!)
      .execute();
    server.app.updraft.deviceChanges.announce(DEFAULT_TENANT_ID, device.id);
    await expect.poll(() => channel.connected, { timeout: 5_000 }).toBe(false);

    // mqtt.js reconnects on its own (1 s); with the new certificate the broker lets it in.
    await expect.poll(() => channel.connected, { timeout: 10_000, interval: 100 }).toBe(true);
    const bus = server.app.wiring.mqtt.bus!;
    const before = notices;
    await expect
      .poll(
        async () => {
          await bus.publish(
            `${deviceTopicRoot(DEFAULT_TENANT_ID, device.id)}/notify`,
            JSON.stringify({ type: 'action-available', at: new Date().toISOString() }),
          );
          return notices;
        },
        { timeout: 5_000, interval: 250 },
      )
      .toBeGreaterThan(before);
  } finally {
    await channel.close();
  }
}, 30_000);
