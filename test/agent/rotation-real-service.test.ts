import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type DeviceIdentity,
  EstClient,
  FileDeviceKeyHolder,
  HttpTransport,
  IdentityRotation,
  IdentityStore,
  PinnedCa,
} from '@updraft/agent';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { issueServerCertificate } from '../../packages/server/src/pki/pki.js';
import { DEFAULT_TENANT_ID } from '../../packages/server/src/tenants/tenant.repository.js';
import { describeEachDialect } from '../../packages/server/src/testing/test-database.js';
import {
  createTestServer,
  type TestServer,
} from '../../packages/server/src/testing/test-server.js';

// Rotation against the real PKI service in-process, so that the service's clock (`now` dep) and
// the agent's (its Clock port) jump ahead together: no check-in fails across two certificate
// lifetimes, the old certificate works within the rotation grace and is refused after it.
const DAY = 86_400_000;

describeEachDialect('agent rotation against the real service', (dialect) => {
  let time = Date.now();
  const clock = {
    now: () => time,
    sleep: async (ms: number) => {
      time += ms;
    },
  };
  let server: TestServer;
  let https: Server;
  let url: string;
  let dir: string;
  let pin: PinnedCa;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agent-rotation-'));
    server = await createTestServer(dialect, {}, { now: () => new Date(time) });
    const admin = await server.adminHeaders();
    const ca = await server.app.wiring.pki.service.ca(DEFAULT_TENANT_ID);
    // The TLS certificate outlives the test's jumps (real time governs the handshake).
    const tls = await issueServerCertificate(ca, {
      hosts: ['127.0.0.1'],
      validityDays: 30,
      now: new Date(),
    });
    https = createServer(
      {
        cert: tls.certificatePem + ca.certificatePem,
        key: tls.privateKeyPem,
        requestCert: true,
        rejectUnauthorized: false,
        minVersion: 'TLSv1.3',
      },
      (req, res) => server.app.routing(req, res),
    );
    await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(https.address() as AddressInfo).port}`;
    pin = PinnedCa.parse(ca.chainPem);
    const api = async (path: string, payload: object) => {
      const res = await server.app.inject({ method: 'POST', url: path, headers: admin, payload });
      expect(res.statusCode, res.body).toBeLessThan(300);
      return res.json() as Record<string, unknown>;
    };
    const cls = await api('/api/v1/device-classes', {
      name: 'pump',
      vendorName: 'acme',
      modelName: 'pump',
    });
    await api('/api/v1/devices', { name: 'pump-r', deviceClassId: cls.id });
  });

  afterAll(async () => {
    await new Promise((resolve) => https?.close(resolve));
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('renews before expiry with both clocks jumping, never failing a check-in; the old certificate lives for the grace only', async () => {
    const admin = await server.adminHeaders();
    const res = await server.app.inject({
      method: 'POST',
      url: '/api/v1/pki/enrollment-tokens',
      headers: admin,
      payload: { device: 'pump-r' },
    });
    const { token } = res.json() as { token: string };
    const store = await IdentityStore.open(dir, new FileDeviceKeyHolder(dir));
    const est = new EstClient({ baseUrl: url, pinnedCa: pin, clock });
    await store.install(await est.enroll('pump-r', await store.pendingKey(), { token }));
    const first: DeviceIdentity = store.current()!;
    const rotation = new IdentityRotation(store, est, clock);
    const transport = new HttpTransport({ baseUrl: url, pinnedCa: pin, identity: store });
    const check = { components: [], attributes: {} };
    const renewedOn: number[] = [];
    const replaced: DeviceIdentity[] = [];
    const withIdentity = (identity: DeviceIdentity) =>
      new HttpTransport({ baseUrl: url, pinnedCa: pin, identity: { current: () => identity } });
    // A check-in every 30 days for 600 days: past the end of the first two certificates.
    for (let day = 0; day <= 600; day += 30) {
      time = first.notBefore + 5 * 60_000 + day * DAY;
      const before = store.current()!;
      if ((await rotation.renewIfDue()) === 'renewed') {
        renewedOn.push(day);
        replaced.push(before);
        // The certificate just replaced still works within pki.rotationGraceSeconds (1 day).
        expect((await withIdentity(before).checkIn(check, null)).status).toBe(200);
      }
      expect((await transport.checkIn(check, null)).status, `day ${day}`).toBe(200);
    }
    // 365-day certificates renewed with less than a third left: on days 270 and 270 + 270.
    expect(renewedOn).toEqual([270, 540]);
    expect(new Set([first, ...replaced, store.current()].map((i) => i?.certificatePem)).size).toBe(
      3,
    );
    // Past the grace (day 600 is 60 days after the last renewal) a replaced certificate is refused.
    const refused = await withIdentity(replaced[1]!)
      .checkIn(check, null)
      .catch((e: { code?: string }) => e.code);
    expect(refused).toBe('AGENT_AUTH_REJECTED');
  });
});
