import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { queryAudit } from '../features/audit/audit.repository.js';
import {
  getDeviceClass,
  getTrustedKey,
  listTrustedKeys,
  revokeTrustedKey,
  trustedKeysForClass,
} from '../features/device-classes/device-class.repository.js';
import {
  decommissionDevice,
  getDevice,
  listDevices,
  rotateDeviceToken,
  setDeviceTags,
  setReportedState,
  updateCustomAttributes,
} from '../features/devices/device.repository.js';
import { listTokens, revokeToken } from '../features/users/token.repository.js';
import {
  disableUser,
  getUser,
  listUsers,
  setUserRoles,
} from '../features/users/user.repository.js';
import { describeEachDialect } from '../testing/test-database.js';
import { createTestServer, type TestServer } from '../testing/test-server.js';

// Tenant B owns one of every resource; tenant A's admin (and A's repository calls) must neither see
// nor change any of it.
describeEachDialect('tenant isolation', (dialect) => {
  let server: TestServer;
  let a: Record<string, string>;
  let b: Record<string, string>;
  const ids: Record<string, string> = {};
  const A = 'ten_default';
  const B = 'ten_other';

  beforeAll(async () => {
    server = await createTestServer(dialect);
    a = await server.adminHeaders();
    const bAdmin = await server.tokenFor(['admin'], B);
    b = { authorization: `Bearer ${bAdmin.token}` };
    ids.user = bAdmin.userId;
    const inj = async (url: string, payload: object) =>
      (
        await server.app.inject({ method: 'POST', url: `/api/v1${url}`, headers: b, payload })
      ).json();
    ids.class = (
      await inj('/device-classes', { name: 'b-class', vendorName: 'b.example', modelName: 'm' })
    ).id;
    const pem = generateKeyPairSync('ed25519')
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    ids.key = (await inj(`/device-classes/${ids.class}/keys`, { format: 'pem', key: pem })).id;
    ids.device = (
      await inj('/devices', {
        name: 'b-device',
        deviceClassId: ids.class,
        attributes: { x: 1 },
        tags: ['t'],
      })
    ).device.id;
    ids.token = (await inj('/tokens', { name: 'b-token' })).info.id;
  });
  afterAll(() => server?.close());

  it('keeps every tenant-B resource out of tenant A lists', async () => {
    const get = async (url: string) =>
      (await server.app.inject({ method: 'GET', url: `/api/v1${url}`, headers: a })).body;
    for (const url of ['/users', '/device-classes', '/devices', '/tokens', '/audit?limit=1000']) {
      const body = await get(url);
      for (const id of Object.values(ids)) expect(body, `${url} leaks ${id}`).not.toContain(id);
    }
  });

  it('answers 404 to tenant A for every tenant-B id, read or write, and changes nothing', async () => {
    const calls: Array<[string, string, object?]> = [
      ['GET', `/users/${ids.user}`],
      ['PUT', `/users/${ids.user}/roles`, { roles: [] }],
      ['DELETE', `/users/${ids.user}`],
      ['DELETE', `/tokens/${ids.token}`],
      ['GET', `/device-classes/${ids.class}`],
      ['GET', `/device-classes/${ids.class}/keys`],
      ['POST', `/device-classes/${ids.class}/keys/${ids.key}/revoke`, {}],
      ['GET', `/devices/${ids.device}`],
      ['PATCH', `/devices/${ids.device}/attributes`, { x: 2 }],
      ['PUT', `/devices/${ids.device}/tags`, { tags: [] }],
      ['POST', `/devices/${ids.device}/decommission`],
      ['POST', `/devices/${ids.device}/token`],
      ['POST', '/devices', { name: 'sneaky', deviceClassId: ids.class }],
    ];
    for (const [method, url, payload] of calls) {
      const res = await server.app.inject({
        method: method as 'GET',
        url: `/api/v1${url}`,
        headers: a,
        ...(payload ? { payload } : {}),
      });
      expect(res.statusCode, `${method} ${url}`).toBe(404);
    }
    const device = (
      await server.app.inject({ method: 'GET', url: `/api/v1/devices/${ids.device}`, headers: b })
    ).json();
    expect(device).toMatchObject({
      decommissionedAt: null,
      tags: ['t'],
      attributes: { custom: { x: 1 } },
    });
    const keys = (
      await server.app.inject({
        method: 'GET',
        url: `/api/v1/device-classes/${ids.class}/keys`,
        headers: b,
      })
    ).json().items;
    expect(keys[0].revokedAt).toBeNull();
    expect(
      (await server.app.inject({ method: 'GET', url: '/api/v1/me', headers: b })).json().roles,
    ).toEqual(['admin']);
  });

  it('makes every repository function blind to other tenants', async () => {
    const { db } = server.app.updraft;
    const now = new Date().toISOString();
    expect(await getUser(db, A, ids.user as string)).toBeUndefined();
    expect((await listUsers(db, A)).map((u) => u.id)).not.toContain(ids.user);
    expect(await listTokens(db, A, ids.user as string)).toEqual([]);
    expect(await getDeviceClass(db, A, ids.class as string)).toBeUndefined();
    expect(await listTrustedKeys(db, A, ids.class as string)).toEqual([]);
    expect(await trustedKeysForClass(db, A, ids.class as string)).toEqual([]);
    expect(await getTrustedKey(db, A, ids.class as string, ids.key as string)).toBeUndefined();
    expect(await getDevice(db, A, ids.device as string)).toBeUndefined();
    expect(
      (await listDevices(db, A, { sort: 'name', order: 'asc', limit: 100, offset: 0 })).items.map(
        (d) => d.id,
      ),
    ).not.toContain(ids.device);
    // A's log holds only A's own (failed) attempts on that id, never B's registration of it.
    const seenByA = await queryAudit(db, A, { resourceId: ids.device as string, limit: 10 });
    expect(seenByA.every((e) => e.tenantId === A && e.outcome === 'failure')).toBe(true);
    expect(seenByA.map((e) => e.action)).not.toContain('device.register');
    expect(
      (await queryAudit(db, B, { resourceId: ids.device as string, limit: 10 })).map(
        (e) => e.action,
      ),
    ).toContain('device.register');
    await db.transaction().execute(async (trx) => {
      expect(await disableUser(trx, A, ids.user as string, now)).toBe(false);
      expect(await revokeToken(trx, A, ids.user as string, ids.token as string, now)).toBe(false);
      expect(
        await revokeTrustedKey(trx, A, ids.class as string, ids.key as string, null, null, now),
      ).toBe(false);
      expect(await decommissionDevice(trx, A, ids.device as string, now)).toBe(false);
      expect(await rotateDeviceToken(trx, A, ids.device as string, now)).toBeUndefined();
      expect(await updateCustomAttributes(trx, A, ids.device as string, { x: 99, y: 1 })).toBe(
        false,
      );
      expect(await setDeviceTags(trx, A, ids.device as string, ['hijacked'])).toBe(false);
      expect(await setUserRoles(trx, A, ids.user as string, ['auditor'])).toBe(false);
      expect(
        await setReportedState(
          trx,
          A,
          ids.device as string,
          {
            components: [{ id: '00', version: 'evil', sequenceNumber: 1, digest: null }],
            attributes: { z: 1 },
          },
          now,
        ),
      ).toBe(false);
    });
    const device = await getDevice(db, B, ids.device as string);
    expect(device).toMatchObject({
      decommissionedAt: null,
      tags: ['t'],
      attributes: { custom: { x: 1 } },
    });
    expect((await trustedKeysForClass(db, B, ids.class as string)).map((k) => k.id)).toEqual([
      ids.key,
    ]);
    expect(device?.components).toEqual([]);
    expect(await getUser(db, B, ids.user as string)).toMatchObject({
      disabledAt: null,
      roles: ['admin'],
    });
    const tokenRows = await db
      .selectFrom('device_tokens')
      .select('revoked_at')
      .where('device_id', '=', ids.device as string)
      .execute();
    expect(tokenRows.map((t) => t.revoked_at)).toEqual([null]);
    // No row of any child table was written under tenant A for B's resources.
    for (const table of ['device_attributes', 'device_tags', 'device_components'] as const) {
      const rows = await db
        .selectFrom(table)
        .select('device_id')
        .where('tenant_id', '=', A)
        .where('device_id', '=', ids.device as string)
        .execute();
      expect(rows, table).toEqual([]);
    }
    expect(
      await db
        .selectFrom('user_roles')
        .select('role')
        .where('tenant_id', '=', A)
        .where('user_id', '=', ids.user as string)
        .execute(),
    ).toEqual([]);
    expect(
      (await listTokens(db, B, ids.user as string)).find((t) => t.id === ids.token)?.revokedAt,
    ).toBeNull();
  });
});
