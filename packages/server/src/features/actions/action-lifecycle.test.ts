import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fleet, seedFleet, uploadRelease } from '../../testing/release-fixtures.js';
import { describeEachDialect } from '../../testing/test-database.js';
import { createTestServer, type TestServer } from '../../testing/test-server.js';

// What the server knows about a device follows its actions: a revoked key closes what it
// signed, a success records what the device runs, and an assignment that would roll a device
// back is refused up front (issue 9: 2.7, 3.8, 2.13).
describeEachDialect('action lifecycle', (dialect) => {
  let server: TestServer;
  let admin: Record<string, string>;
  let adminNoBody: Record<string, string>;
  beforeAll(async () => {
    server = await createTestServer(dialect);
    adminNoBody = await server.adminHeaders();
    admin = { ...adminNoBody, 'content-type': 'application/json' };
  });
  afterAll(() => server?.close());

  const assign = (deviceId: string, releaseId: string) =>
    server.app.inject({
      method: 'POST',
      url: '/api/v1/actions',
      headers: admin,
      payload: { deviceId, releaseId },
    });
  const deviceHeaders = (token: string) => ({
    authorization: `Bearer ${token}`,
    'content-type': 'application/json',
  });
  const checkIn = (token: string, body: object = {}) =>
    server.app.inject({
      method: 'POST',
      url: '/api/device/v1/check-in',
      headers: deviceHeaders(token),
      payload: body,
    });
  /** The first component id of a release, as the device reports it. */
  const componentOf = async (releaseId: string) =>
    (
      await server.app.inject({
        method: 'GET',
        url: `/api/v1/releases/${releaseId}`,
        headers: adminNoBody,
      })
    ).json().components[0].id as string;
  const feedback = (token: string, actionId: string, status: string) =>
    server.app.inject({
      method: 'POST',
      url: `/api/device/v1/actions/${actionId}/feedback`,
      headers: deviceHeaders(token),
      payload: { reportId: randomUUID(), status },
    });

  describe('revoking a trusted key', () => {
    let fleet: Fleet;
    beforeAll(async () => {
      fleet = await seedFleet(server.app.updraft.db, { deviceCount: 3 });
    });

    it('cancels the open actions of releases it signed, in the same transaction, audited', async () => {
      const releaseId = await uploadRelease(server.app, admin, fleet, 3, [randomBytes(1000)]);
      const a0 = (await assign(fleet.devices[0]!.id, releaseId)).json().id as string;
      const a1 = (await assign(fleet.devices[1]!.id, releaseId)).json().id as string;
      // An action already closed stays as it was.
      const a2 = (await assign(fleet.devices[2]!.id, releaseId)).json().id as string;
      expect((await feedback(fleet.devices[2]!.token, a2, 'downloading')).statusCode).toBe(200);
      // Device 0 has a cached session with its open action: the revocation must reach it.
      expect((await checkIn(fleet.devices[0]!.token)).json().action.id).toBe(a0);

      const keys = await server.app.inject({
        method: 'GET',
        url: `/api/v1/device-classes/${fleet.deviceClassId}/keys`,
        headers: adminNoBody,
      });
      const key = (keys.json().items as { id: string; kid: string }[]).find(
        (k) => k.kid === fleet.kid,
      )!;
      const res = await server.app.inject({
        method: 'POST',
        url: `/api/v1/device-classes/${fleet.deviceClassId}/keys/${key.id}/revoke`,
        headers: admin,
        payload: { reason: 'leaked' },
      });
      expect(res.statusCode).toBe(200);
      expect(res.json().revokedAt).not.toBeNull();
      expect([...res.json().canceledActionIds].sort()).toEqual([a0, a1, a2].sort());

      for (const id of [a0, a1, a2]) {
        const shown = await server.app.inject({
          method: 'GET',
          url: `/api/v1/actions/${id}`,
          headers: adminNoBody,
        });
        expect(shown.json()).toMatchObject({ state: 'canceled', open: false });
        expect(shown.json().events.at(-1)).toMatchObject({
          source: 'server',
          status: 'canceled',
          code: 'RELEASE_KEY_REVOKED',
        });
      }
      // The devices see no action any more (device 0 through its cached session too).
      expect((await checkIn(fleet.devices[0]!.token)).json().action).toBeNull();
      expect((await checkIn(fleet.devices[1]!.token)).json().action).toBeNull();

      const audit = await server.app.updraft.db
        .selectFrom('audit_log')
        .select(['action', 'resource_id', 'change', 'request_id'])
        .where('action', 'in', ['trusted-key.revoke', 'action.cancel'])
        .execute();
      const revoke = audit.find((e) => e.action === 'trusted-key.revoke')!;
      expect(JSON.parse(revoke.change!).canceledActionIds.sort()).toEqual([a0, a1, a2].sort());
      const cancels = audit.filter((e) => e.action === 'action.cancel');
      expect(cancels.map((e) => e.resource_id).sort()).toEqual([a0, a1, a2].sort());
      // One request, one transaction: every entry carries the revocation's request id.
      expect(new Set(audit.map((e) => e.request_id))).toEqual(new Set([revoke.request_id]));
    });
  });

  describe('a successful action', () => {
    let fleet: Fleet;
    let v5: string;
    beforeAll(async () => {
      fleet = await seedFleet(server.app.updraft.db, { deviceCount: 2 });
      v5 = await uploadRelease(server.app, admin, fleet, 5, [randomBytes(1000)], '1.5.0');
    });

    it('updates the installed components and last-seen shown by GET /devices/{id}', async () => {
      const dev = fleet.devices[0]!;
      const component = await componentOf(v5);
      const before = { components: [{ id: component, version: '1.0.0', sequenceNumber: 1 }] };
      expect((await checkIn(dev.token, before)).statusCode).toBe(200);
      const actionId = (await assign(dev.id, v5)).json().id as string;
      for (const status of ['downloading', 'downloaded', 'installing', 'rebooting', 'success'])
        expect((await feedback(dev.token, actionId, status)).statusCode).toBe(200);
      const release = (
        await server.app.inject({
          method: 'GET',
          url: `/api/v1/releases/${v5}`,
          headers: adminNoBody,
        })
      ).json() as { components: { id: string; imageDigest: string }[] };
      const res = await server.app.inject({
        method: 'GET',
        url: `/api/v1/devices/${dev.id}`,
        headers: adminNoBody,
      });
      expect(res.statusCode).toBe(200);
      expect(res.json().lastSeenAt).not.toBeNull();
      // The device repeating its pre-update report word for word does not undo what it installed.
      expect((await checkIn(dev.token, before)).statusCode).toBe(200);
      const again = await server.app.inject({
        method: 'GET',
        url: `/api/v1/devices/${dev.id}`,
        headers: adminNoBody,
      });
      expect(again.json().components).toEqual(res.json().components);
      expect(res.json().components).toEqual([
        expect.objectContaining({
          id: release.components[0]!.id,
          version: '1.5.0',
          sequenceNumber: 5,
          digest: release.components[0]!.imageDigest,
        }),
      ]);
    });

    it('refuses to assign a release whose sequence number is not above the installed one', async () => {
      // Device 0 runs sequence number 5 (recorded by its success above).
      let res = await assign(fleet.devices[0]!.id, v5);
      expect(res.statusCode).toBe(409);
      expect(res.json()).toMatchObject({
        code: 'ACTION_SEQUENCE_NOT_NEWER',
        type: expect.any(String),
        requestId: expect.any(String),
      });
      // Device 1 reports sequence number 9 for the release's component: 5 is a rollback.
      const component = await componentOf(v5);
      expect(
        (
          await checkIn(fleet.devices[1]!.token, {
            components: [{ id: component, version: '1.9.0', sequenceNumber: 9 }],
          })
        ).statusCode,
      ).toBe(200);
      res = await assign(fleet.devices[1]!.id, v5);
      expect(res.statusCode).toBe(409);
      expect(res.json().code).toBe('ACTION_SEQUENCE_NOT_NEWER');
      const v10 = await uploadRelease(server.app, admin, fleet, 10, [randomBytes(900)], '1.10.0');
      expect((await assign(fleet.devices[1]!.id, v10)).statusCode).toBe(201);
    });
  });
  describe('assigning', () => {
    it('accepts a device name where it accepts a device id', async () => {
      const fleet = await seedFleet(server.app.updraft.db, { deviceCount: 1 });
      const device = fleet.devices[0]!;
      await server.app.updraft.db
        .updateTable('devices')
        .set({ name: `lobby-${device.id}` })
        .where('id', '=', device.id)
        .execute();
      const releaseId = await uploadRelease(
        server.app,
        admin,
        fleet,
        3,
        [randomBytes(700)],
        '1.3.0',
      );
      const res = await assign(`lobby-${device.id}`, releaseId);
      expect(res.statusCode).toBe(201);
      expect(res.json()).toMatchObject({ deviceId: device.id, releaseId });
      const unknown = await assign('no-such-device', releaseId);
      expect(unknown.statusCode).toBe(404);
      expect(unknown.json().code).toBe('RESOURCE_NOT_FOUND');
    });
  });
});
