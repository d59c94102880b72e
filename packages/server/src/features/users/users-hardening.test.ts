import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDialect, TEST_POSTGRES_URL } from '../../testing/test-database.js';
import {
  createTestServer,
  TEST_ADMIN_PASSWORD,
  type TestServer,
} from '../../testing/test-server.js';

describeEachDialect('users: passwords, tokens, tenants, metrics', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await createTestServer(dialect, { metrics: { public: false } });
  });
  afterAll(() => server?.close());

  const call = (
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    token?: string,
    payload?: Record<string, unknown>,
  ) =>
    server.app.inject({
      method,
      url,
      headers: token ? { authorization: `Bearer ${token}` } : {},
      ...(payload === undefined ? {} : { payload }),
    });
  const login = (username: string, password: string, tenant?: string) =>
    call('POST', '/api/v1/auth/login', undefined, {
      username,
      password,
      ...(tenant === undefined ? {} : { tenant }),
    });
  const adminToken = async () => (await server.adminHeaders()).authorization!.slice(7);

  it('lets an admin reset another password: their tokens are revoked and they must change it', async () => {
    const admin = await adminToken();
    const created = await call('POST', '/api/v1/users', admin, {
      username: 'riley',
      password: 'riley-first-password',
      roles: ['support'],
    });
    const id = created.json().id as string;
    const session = (await login('riley', 'riley-first-password')).json().token as string;
    expect((await call('GET', '/api/v1/devices', session)).statusCode).toBe(200);
    const reset = await call('PUT', `/api/v1/users/${id}/password`, admin, {
      newPassword: 'riley-reset-password',
    });
    expect(reset.statusCode).toBe(204);
    expect((await call('GET', '/api/v1/me', session)).statusCode).toBe(401);
    expect((await login('riley', 'riley-first-password')).statusCode).toBe(401);
    const again = await login('riley', 'riley-reset-password');
    expect(again.json().passwordChangeRequired).toBe(true);
    expect((await call('GET', '/api/v1/devices', again.json().token)).json().code).toBe(
      'AUTH_PASSWORD_CHANGE_REQUIRED',
    );
    // Too short, and one's own password through this route: refused, nothing changed.
    const short = await call('PUT', `/api/v1/users/${id}/password`, admin, {
      newPassword: 'short',
    });
    expect(short.json().code).toBe('HTTP_VALIDATION_FAILED');
    const me = (await call('GET', '/api/v1/me', admin)).json().id as string;
    expect(
      (await call('PUT', `/api/v1/users/${me}/password`, admin, { newPassword: 'x'.repeat(16) }))
        .statusCode,
    ).toBe(409);
    // A support user may not reset anyone.
    const support = (await server.tokenFor(['support'])).token;
    expect(
      (await call('PUT', `/api/v1/users/${id}/password`, support, { newPassword: 'x'.repeat(16) }))
        .statusCode,
    ).toBe(403);
  });

  it('lets a login session mint only expiring API tokens unless its user is an admin', async () => {
    const admin = await adminToken();
    await call('POST', '/api/v1/users', admin, {
      username: 'casey',
      password: 'casey-password-0123',
      roles: ['support'],
    });
    const session = (await login('casey', 'casey-password-0123')).json().token as string;
    const forever = await call('POST', '/api/v1/tokens', session, { name: 'forever' });
    expect(forever.statusCode).toBe(422);
    expect(forever.json().code).toBe('RESOURCE_INVALID');
    const expiring = await call('POST', '/api/v1/tokens', session, {
      name: 'ci',
      expiresInDays: 30,
    });
    expect(expiring.statusCode).toBe(201);
    const adminSession = (await login('admin', TEST_ADMIN_PASSWORD)).json().token as string;
    const adminForever = await call('POST', '/api/v1/tokens', adminSession, { name: 'ops' });
    expect(adminForever.statusCode).toBe(201);
    expect(adminForever.json().info.expiresAt).toBeNull();
  });

  it('marks answers carrying secrets no-store', async () => {
    const admin = await adminToken();
    const session = await login('admin', TEST_ADMIN_PASSWORD);
    expect(session.headers['cache-control']).toBe('no-store');
    const token = await call('POST', '/api/v1/tokens', admin, { name: 'nc', expiresInDays: 1 });
    expect(token.headers['cache-control']).toBe('no-store');
    const cls = await call('POST', '/api/v1/device-classes', admin, {
      name: 'no-store',
      vendorName: 'example.com',
      modelName: 'no-store',
    });
    const device = await call('POST', '/api/v1/devices', admin, {
      name: 'no-store-1',
      deviceClassId: cls.json().id,
    });
    expect(device.json().token).toMatch(/^updraft_device_/);
    expect(device.headers['cache-control']).toBe('no-store');
  });

  it('serves /metrics only to a token with metrics:read', async () => {
    expect((await call('GET', '/metrics')).statusCode).toBe(401);
    const support = (await server.tokenFor(['support'])).token;
    expect((await call('GET', '/metrics', support)).statusCode).toBe(403);
    const auditor = (await server.tokenFor(['auditor'])).token;
    const scraped = await call('GET', '/metrics', auditor);
    expect(scraped.statusCode).toBe(200);
    expect(scraped.body).toContain('updraft_http_requests_total');
  });

  it('lets the installation admin create a tenant whose admin logs in to it by name', async () => {
    const admin = await adminToken();
    const created = await call('POST', '/api/v1/tenants', admin, {
      name: 'acme',
      adminUsername: 'boss',
      adminPassword: 'acme-first-password',
    });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ tenant: { name: 'acme' }, admin: { roles: ['admin'] } });
    expect(
      (await call('GET', '/api/v1/tenants', admin))
        .json()
        .items.map((t: { name: string }) => t.name),
    ).toEqual(expect.arrayContaining(['acme', 'default']));
    // The default tenant has no "boss"; acme's admin logs in to acme and must change the password.
    expect((await login('boss', 'acme-first-password')).statusCode).toBe(401);
    const boss = await login('boss', 'acme-first-password', 'acme');
    expect(boss.statusCode).toBe(200);
    expect(boss.json().passwordChangeRequired).toBe(true);
    const bossToken = boss.json().token as string;
    await call('POST', '/api/v1/me/password', bossToken, {
      currentPassword: 'acme-first-password',
      newPassword: 'acme-second-password',
    });
    // A tenant's admin is no installation admin; acme sees none of the default tenant's users.
    const denied = await call('POST', '/api/v1/tenants', bossToken, {
      name: 'evil',
      adminUsername: 'x',
      adminPassword: 'x'.repeat(16),
    });
    expect(denied.statusCode).toBe(403);
    expect(
      (await call('GET', '/api/v1/users', bossToken))
        .json()
        .items.map((u: { username: string }) => u.username),
    ).toEqual(['boss']);
    const unknown = await login('boss', 'acme-second-password', 'nowhere');
    expect(unknown.statusCode).toBe(401);
    expect(unknown.json().detail).toBe(
      (await login('boss', 'wrong-password', 'acme')).json().detail,
    );
    expect(
      (
        await call('POST', '/api/v1/tenants', admin, {
          name: 'acme',
          adminUsername: 'other',
          adminPassword: 'x'.repeat(16),
        })
      ).statusCode,
    ).toBe(409);
  });

  it('leaves an admin when two admins demote each other at the same moment', async () => {
    const solo = await createTestServer(dialect);
    let locker: pg.Client | undefined;
    try {
      const a = await solo.tokenFor(['admin']);
      const b = await solo.tokenFor(['admin']);
      const users = (
        await solo.app.inject({
          method: 'GET',
          url: '/api/v1/users',
          headers: { authorization: `Bearer ${a.token}` },
        })
      ).json().items as { id: string; username: string }[];
      const bootstrap = users.find((u) => u.username === 'admin')!.id;
      await solo.app.inject({
        method: 'DELETE',
        url: `/api/v1/users/${bootstrap}`,
        headers: { authorization: `Bearer ${a.token}` },
      });
      const demote = (token: string, target: string) =>
        solo.app.inject({
          method: 'PUT',
          url: `/api/v1/users/${target}/roles`,
          headers: { authorization: `Bearer ${token}` },
          payload: { roles: ['support'] },
        });
      let release = async () => {};
      if (solo.app.updraft.dbSupport.supportsConcurrentWriters) {
        // Hold both transactions at their audit entry (written after the admin count, before
        // commit) until both are waiting, so they truly overlap: without the lock on the admin
        // set, each has counted the other still an admin and both commit.
        locker = new pg.Client({ connectionString: TEST_POSTGRES_URL });
        await locker.connect();
        const schema = solo.database.config.schema;
        await locker.query('BEGIN');
        await locker.query(`LOCK TABLE "${schema}".audit_log IN EXCLUSIVE MODE`);
        const client = locker;
        release = async () => {
          for (;;) {
            // Both requests wait, directly on this lock or on the one that does.
            const { rows } = await client.query(
              `WITH w AS (SELECT pid, pg_blocking_pids(pid) AS b FROM pg_stat_activity)
               SELECT count(*)::int AS n FROM w
               WHERE pg_backend_pid() = ANY(w.b)
                  OR EXISTS (SELECT 1 FROM w AS v WHERE v.pid = ANY(w.b) AND pg_backend_pid() = ANY(v.b))`,
            );
            if ((rows[0] as { n: number }).n >= 2) break;
            // Statistics views are a snapshot per transaction: take a fresh one.
            await client.query('SELECT pg_stat_clear_snapshot()');
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
          await client.query('COMMIT');
        };
      }
      const both = Promise.all([demote(a.token, b.userId), demote(b.token, a.userId)]);
      await release();
      const statuses = (await both).map((r) => r.statusCode).sort();
      expect(statuses).toEqual([200, 409]);
      const admins = (
        await solo.app.updraft.db
          .selectFrom('user_roles as r')
          .innerJoin('users as u', 'u.id', 'r.user_id')
          .select('u.id')
          .where('r.role', '=', 'admin')
          .where('u.disabled_at', 'is', null)
          .execute()
      ).length;
      expect(admins).toBe(1);
    } finally {
      await locker?.end();
      await solo.close();
    }
  });
});
