import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDialect } from '../../testing/test-database.js';
import {
  createTestServer,
  TEST_ADMIN_PASSWORD,
  type TestServer,
} from '../../testing/test-server.js';

describeEachDialect('users, login and tokens', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await createTestServer(dialect);
  });
  afterAll(() => server?.close());

  const login = (username: string, password: string) =>
    server.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username, password },
    });

  it('logs the first admin in with a session token that works', async () => {
    const res = await login('admin', TEST_ADMIN_PASSWORD);
    expect(res.statusCode).toBe(200);
    const { token, user, expiresAt } = res.json();
    expect(token).toMatch(/^updraft_session_/);
    expect(user.roles).toEqual(['admin']);
    expect(Date.parse(expiresAt)).toBeGreaterThan(Date.now());
    const me = await server.app.inject({
      method: 'GET',
      url: '/api/v1/me',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(me.json().username).toBe('admin');
  });

  it('refuses a wrong password or unknown user with the same error', async () => {
    const wrong = await login('admin', 'not-the-password');
    const unknown = await login('nobody', 'not-the-password');
    expect(wrong.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    expect(wrong.json().code).toBe('AUTH_INVALID_CREDENTIALS');
    expect(unknown.json().detail).toBe(wrong.json().detail);
  });

  it('creates a user with roles, who can log in and do only what the roles allow', async () => {
    const headers = await server.adminHeaders();
    const created = await server.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers,
      payload: { username: 'sam.support', password: 'correct-horse-battery', roles: ['support'] },
    });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ username: 'sam.support', roles: ['support'] });
    expect(created.body).not.toContain('correct-horse');
    const session = (await login('sam.support', 'correct-horse-battery')).json().token;
    const auth = { authorization: `Bearer ${session}` };
    expect(
      (await server.app.inject({ method: 'GET', url: '/api/v1/devices', headers: auth }))
        .statusCode,
    ).toBe(200);
    expect(
      (await server.app.inject({ method: 'GET', url: '/api/v1/users', headers: auth })).statusCode,
    ).toBe(403);
  });

  it('refuses a duplicate user, a short password and an unknown role', async () => {
    const headers = await server.adminHeaders();
    const dup = await server.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers,
      payload: { username: 'admin', password: 'long-enough-password', roles: [] },
    });
    expect(dup.json().code).toBe('RESOURCE_CONFLICT');
    const short = await server.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers,
      payload: { username: 'x', password: 'short', roles: [] },
    });
    expect(short.json().code).toBe('HTTP_VALIDATION_FAILED');
    const role = await server.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers,
      payload: { username: 'y', password: 'long-enough-password', roles: ['root'] },
    });
    expect(role.json().code).toBe('HTTP_VALIDATION_FAILED');
  });

  it('changes roles and disables a user, revoking their tokens', async () => {
    const headers = await server.adminHeaders();
    const { token, userId } = await server.tokenFor(['support']);
    const auth = { authorization: `Bearer ${token}` };
    const put = await server.app.inject({
      method: 'PUT',
      url: `/api/v1/users/${userId}/roles`,
      headers,
      payload: { roles: ['auditor'] },
    });
    expect(put.json().roles).toEqual(['auditor']);
    expect(
      (await server.app.inject({ method: 'GET', url: '/api/v1/audit', headers: auth })).statusCode,
    ).toBe(200);
    // An auditor reads everything and changes nothing.
    expect(
      (await server.app.inject({ method: 'GET', url: '/api/v1/devices', headers: auth }))
        .statusCode,
    ).toBe(200);
    expect(
      (
        await server.app.inject({
          method: 'POST',
          url: '/api/v1/devices',
          headers: { ...auth, 'content-type': 'application/json' },
          payload: { name: 'not-by-an-auditor', deviceClassId: 'cls_none' },
        })
      ).statusCode,
    ).toBe(403);
    expect(
      (await server.app.inject({ method: 'DELETE', url: `/api/v1/users/${userId}`, headers }))
        .statusCode,
    ).toBe(204);
    expect(
      (await server.app.inject({ method: 'GET', url: '/api/v1/audit', headers: auth })).statusCode,
    ).toBe(401);
  });

  it('refuses to leave the tenant without an enabled admin', async () => {
    const solo = await createTestServer(dialect);
    try {
      const { token, userId } = await solo.tokenFor(['admin']);
      const auth = { authorization: `Bearer ${token}` };
      const admins = (
        await solo.app.inject({ method: 'GET', url: '/api/v1/users', headers: auth })
      ).json().items;
      const bootstrap = admins.find((u: { username: string }) => u.username === 'admin').id;
      // Two admins: one may go.
      expect(
        (
          await solo.app.inject({
            method: 'DELETE',
            url: `/api/v1/users/${bootstrap}`,
            headers: auth,
          })
        ).statusCode,
      ).toBe(204);
      // The last one cannot lose its role, and nothing changes.
      const demote = await solo.app.inject({
        method: 'PUT',
        url: `/api/v1/users/${userId}/roles`,
        headers: auth,
        payload: { roles: ['support'] },
      });
      expect(demote.statusCode).toBe(409);
      expect(demote.json().code).toBe('RESOURCE_CONFLICT');
      expect(
        (await solo.app.inject({ method: 'GET', url: '/api/v1/me', headers: auth })).json().roles,
      ).toEqual(['admin']);
    } finally {
      await solo.close();
    }
  });

  it('issues an API token shown once, stored only as a hash, and revocable', async () => {
    const headers = await server.adminHeaders();
    const res = await server.app.inject({
      method: 'POST',
      url: '/api/v1/tokens',
      headers,
      payload: { name: 'ci', expiresInDays: 30 },
    });
    expect(res.statusCode).toBe(201);
    const { token, info } = res.json();
    expect(token).toMatch(/^updraft_api_[A-Za-z0-9_-]{43}$/);
    const stored = await server.app.updraft.db
      .selectFrom('tokens')
      .selectAll()
      .where('id', '=', info.id)
      .executeTakeFirstOrThrow();
    expect(JSON.stringify(stored)).not.toContain(token.slice(12));
    const list = await server.app.inject({ method: 'GET', url: '/api/v1/tokens', headers });
    expect(list.body).not.toContain(token);
    const auth = { authorization: `Bearer ${token}` };
    expect(
      (await server.app.inject({ method: 'GET', url: '/api/v1/me', headers: auth })).statusCode,
    ).toBe(200);
    expect(
      (
        await server.app.inject({
          method: 'DELETE',
          url: `/api/v1/tokens/${info.id}`,
          headers: auth,
        })
      ).statusCode,
    ).toBe(204);
    expect(
      (await server.app.inject({ method: 'GET', url: '/api/v1/me', headers: auth })).statusCode,
    ).toBe(401);
  });

  it('rejects a session once its lifetime has passed', async () => {
    let offsetMs = 0;
    const clocked = await createTestServer(
      dialect,
      { auth: { sessionTtlSeconds: 60 } },
      { now: () => new Date(Date.now() + offsetMs) },
    );
    try {
      const res = await clocked.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { username: 'admin', password: TEST_ADMIN_PASSWORD },
      });
      const auth = { authorization: `Bearer ${res.json().token}` };
      expect(
        (await clocked.app.inject({ method: 'GET', url: '/api/v1/me', headers: auth })).statusCode,
      ).toBe(200);
      offsetMs = 61_000;
      const expired = await clocked.app.inject({ method: 'GET', url: '/api/v1/me', headers: auth });
      expect(expired.statusCode).toBe(401);
      expect(expired.json().code).toBe('AUTH_UNAUTHENTICATED');
    } finally {
      await clocked.close();
    }
  });
});
