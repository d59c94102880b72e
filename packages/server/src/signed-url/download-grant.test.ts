import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Fleet, seedFleet, uploadRelease } from '../testing/release-fixtures.js';
import { describeEachDialect } from '../testing/test-database.js';
import { createTestServer, type TestServer } from '../testing/test-server.js';

// A signed download URL is only as good as what it was issued under: the device, the credential
// that checked in and the open action. Each of them going away stops the URL (issue 9, 2.8).
describeEachDialect('signed download URLs after the device or action changed', (dialect) => {
  let server: TestServer;
  let admin: Record<string, string>;
  let adminNoBody: Record<string, string>;
  let fleet: Fleet;
  let releaseId: string;
  const payload = randomBytes(5000);

  beforeAll(async () => {
    server = await createTestServer(dialect);
    adminNoBody = await server.adminHeaders();
    admin = { ...adminNoBody, 'content-type': 'application/json' };
    fleet = await seedFleet(server.app.updraft.db, { deviceCount: 4 });
    releaseId = await uploadRelease(server.app, admin, fleet, 5, [payload]);
  });
  afterAll(() => server?.close());

  /** Assigns the release to device `i`, checks in with `token`, returns the action and the URL. */
  const issue = async (i: number, token = fleet.devices[i]!.token) => {
    const assigned = await server.app.inject({
      method: 'POST',
      url: '/api/v1/actions',
      headers: admin,
      payload: { deviceId: fleet.devices[i]!.id, releaseId },
    });
    expect(assigned.statusCode).toBe(201);
    const res = await server.app.inject({
      method: 'POST',
      url: '/api/device/v1/check-in',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: {},
    });
    expect(res.statusCode).toBe(200);
    const action = res.json().action as { id: string; payloads: { url: string }[] };
    return { actionId: action.id, url: action.payloads[0]!.url };
  };
  const download = (url: string) => server.app.inject({ method: 'GET', url });

  it('stops working once the device is decommissioned', async () => {
    const { url } = await issue(0);
    expect((await download(url)).statusCode).toBe(200);
    const res = await server.app.inject({
      method: 'POST',
      url: `/api/v1/devices/${fleet.devices[0]!.id}/decommission`,
      headers: adminNoBody,
    });
    expect(res.statusCode).toBe(200);
    const refused = await download(url);
    expect(refused.statusCode).toBe(403);
    expect(refused.json().code).toBe('DEVICE_URL_REVOKED');
  });

  it("stops working once the device's token is rotated; the new token's URL works", async () => {
    const { url } = await issue(1);
    expect((await download(url)).statusCode).toBe(200);
    const rotated = await server.app.inject({
      method: 'POST',
      url: `/api/v1/devices/${fleet.devices[1]!.id}/token`,
      headers: adminNoBody,
    });
    expect(rotated.statusCode).toBe(200);
    const refused = await download(url);
    expect(refused.statusCode).toBe(403);
    expect(refused.json().code).toBe('DEVICE_URL_REVOKED');
    const res = await server.app.inject({
      method: 'POST',
      url: '/api/device/v1/check-in',
      headers: {
        authorization: `Bearer ${rotated.json().token}`,
        'content-type': 'application/json',
      },
      payload: {},
    });
    const fresh = (res.json().action as { payloads: { url: string }[] }).payloads[0]!.url;
    expect(fresh).not.toBe(url);
    expect((await download(fresh)).statusCode).toBe(200);
  });

  it('stops working once the action closed', async () => {
    const { actionId, url } = await issue(2);
    expect((await download(url)).statusCode).toBe(200);
    const res = await server.app.inject({
      method: 'POST',
      url: `/api/device/v1/actions/${actionId}/feedback`,
      headers: {
        authorization: `Bearer ${fleet.devices[2]!.token}`,
        'content-type': 'application/json',
      },
      payload: { reportId: randomUUID(), status: 'rejected', code: 'AGENT_POLICY_REFUSED' },
    });
    expect(res.json(), res.body).toMatchObject({ state: 'rejected' });
    const refused = await download(url);
    expect(refused.statusCode).toBe(403);
    expect(refused.json().code).toBe('DEVICE_URL_REVOKED');
  });

  it('checks the signature first: a forged URL is invalid, not revoked', async () => {
    const { url } = await issue(3);
    const forged = url.replace(/a=act_[^&]+/, 'a=act_other');
    const res = await download(forged);
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('DEVICE_URL_INVALID');
  });
});
