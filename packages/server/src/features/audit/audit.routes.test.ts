import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDialect } from '../../testing/test-database.js';
import {
  createTestServer,
  TEST_ADMIN_PASSWORD,
  type TestServer,
} from '../../testing/test-server.js';

describeEachDialect('audit log', (dialect) => {
  let server: TestServer;
  let headers: Record<string, string>;
  let auditor: Record<string, string>;
  let adminId: string;
  beforeAll(async () => {
    server = await createTestServer(dialect);
    const admin = await server.tokenFor(['admin']);
    adminId = admin.userId;
    headers = { authorization: `Bearer ${admin.token}` };
    auditor = { authorization: `Bearer ${(await server.tokenFor(['auditor'])).token}` };
  });
  afterAll(() => server?.close());

  const audit = async (query: string) =>
    (
      await server.app.inject({ method: 'GET', url: `/api/v1/audit?${query}`, headers: auditor })
    ).json().items as Array<Record<string, unknown>>;

  it('records who, what, when, from where and the outcome of a change, in its transaction', async () => {
    const before = new Date().toISOString();
    const res = await server.app.inject({
      method: 'POST',
      url: '/api/v1/device-classes',
      headers: { ...headers, 'x-request-id': 'audit-req-1' },
      payload: { name: 'audited', vendorName: 'example.com', modelName: 'a' },
    });
    const id = res.json().id;
    const [entry] = await audit(`resourceId=${id}`);
    expect(entry).toMatchObject({
      actorType: 'user',
      actorId: adminId,
      action: 'device-class.create',
      resourceType: 'device-class',
      resourceId: id,
      outcome: 'success',
      status: 201,
      requestId: 'audit-req-1',
      ip: '127.0.0.1',
      change: { name: 'audited' },
    });
    expect(String(entry?.at) >= before).toBe(true);
  });

  it('records failed and denied attempts too', async () => {
    await server.app.inject({
      method: 'POST',
      url: '/api/v1/devices/dev_nope/decommission',
      headers,
    });
    const support = { authorization: `Bearer ${(await server.tokenFor(['support'])).token}` };
    await server.app.inject({
      method: 'POST',
      url: '/api/v1/device-classes',
      headers: support,
      payload: { name: 'x' },
    });
    await server.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: 'admin', password: 'wrong-password' },
    });
    // Failures and denials are recorded after the answer went out (onResponse): poll for them.
    await expect
      .poll(async () => (await audit('resourceId=dev_nope'))[0])
      .toMatchObject({
        outcome: 'failure',
        status: 404,
        action: 'POST /api/v1/devices/:id/decommission',
      });
    await expect
      .poll(
        async () =>
          (await audit('action=POST%20%2Fapi%2Fv1%2Fdevice-classes')).filter(
            (e) => e.outcome === 'denied',
          )[0],
      )
      .toMatchObject({ status: 403, actorType: 'user' });
    const loginEntry = async () => (await audit('action=POST%20%2Fapi%2Fv1%2Fauth%2Flogin'))[0];
    await expect
      .poll(loginEntry)
      .toMatchObject({ outcome: 'denied', status: 401, actorType: 'anonymous' });
    expect(JSON.stringify(await loginEntry())).not.toContain('wrong-password');
  });

  it('records a successful login as the user who logged in, without the session token', async () => {
    const res = await server.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: 'admin', password: TEST_ADMIN_PASSWORD },
    });
    const { token, user } = res.json();
    const [entry] = await audit('action=auth.login');
    expect(entry).toMatchObject({
      actorType: 'user',
      actorId: user.id,
      outcome: 'success',
      resourceId: user.id,
    });
    expect(JSON.stringify(entry)).not.toContain(token);
  });

  it('answers queries by actor, resource type and time window, newest first, paged', async () => {
    for (const name of ['p1', 'p2', 'p3']) {
      await server.app.inject({
        method: 'POST',
        url: '/api/v1/device-classes',
        headers,
        payload: { name, vendorName: 'example.com', modelName: name },
      });
    }
    const mine = await audit(`actor=${adminId}&resourceType=device-class&limit=2`);
    expect(mine).toHaveLength(2);
    expect(mine.map((e) => (e.change as { name: string }).name)).toEqual(['p3', 'p2']);
    const next = await audit(
      `actor=${adminId}&resourceType=device-class&limit=2&before=${mine[1]?.id}`,
    );
    expect(next[0]?.change).toMatchObject({ name: 'p1' });
    expect(await audit(`from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z`)).toEqual([]);
    const future = new Date(Date.now() + 86_400_000).toISOString();
    expect(await audit(`from=${future}`)).toEqual([]);
    expect(
      (
        await server.app.inject({
          method: 'GET',
          url: '/api/v1/audit?from=yesterday',
          headers: auditor,
        })
      ).statusCode,
    ).toBe(400);
    // Well-formed but impossible dates are a 400 too, never a 500.
    for (const bad of ['2026-02-30T00:00:00Z', '2026-13-01T00:00:00Z', '2026-01-01T25:00:00Z']) {
      const res = await server.app.inject({
        method: 'GET',
        url: `/api/v1/audit?to=${bad}`,
        headers: auditor,
      });
      expect([res.statusCode, res.json().code]).toEqual([400, 'HTTP_VALIDATION_FAILED']);
    }
  });

  it('offers no route that changes the log, and the database refuses UPDATE and DELETE', async () => {
    const writeRoutes = (await import('../../http/access-control.js'))
      .registeredRoutes(server.app)
      .filter((r) => r.url.startsWith('/api/v1/audit'));
    expect(writeRoutes.map((r) => r.method)).toEqual(['GET']);
    const { db } = server.app.updraft;
    const count = async () =>
      Number(
        (
          await db
            .selectFrom('audit_log')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const n = await count();
    await expect(sql`update audit_log set outcome = 'success'`.execute(db)).rejects.toThrow(
      /append-only/,
    );
    await expect(sql`delete from audit_log`.execute(db)).rejects.toThrow(/append-only/);
    expect(await count()).toBe(n);
  });

  it('rolls the entry back with a failed change (nothing half-recorded)', async () => {
    const n = (await audit('action=device-class.create&limit=1000')).length;
    const res = await server.app.inject({
      method: 'POST',
      url: '/api/v1/device-classes',
      headers,
      payload: { name: 'p1', vendorName: 'example.com', modelName: 'other' },
    });
    expect(res.statusCode).toBe(409);
    expect((await audit('action=device-class.create&limit=1000')).length).toBe(n);
  });
});
