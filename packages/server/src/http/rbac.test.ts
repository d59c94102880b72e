import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  isPermission,
  type PERMISSIONS,
  ROLES,
  type Role,
  rolesGrant,
} from '../auth/permissions.js';
import { describeEachDialect } from '../testing/test-database.js';
import { createTestServer, type TestServer } from '../testing/test-server.js';
import { registeredRoutes } from './access-control.js';

// Every registered route × every role, checked against ROLE_PERMISSIONS (the one table).
// A route that declares no permission fails the first test; new routes are covered automatically.

function concreteUrl(url: string): string {
  return url.replaceAll(/:[A-Za-z0-9_]+/g, 'x0').replaceAll('*', 'x0');
}

describeEachDialect('RBAC', (dialect) => {
  let server: TestServer;
  const tokens = new Map<Role, string>();
  beforeAll(async () => {
    server = await createTestServer(dialect);
    for (const role of ROLES) tokens.set(role, (await server.tokenFor([role])).token);
  });
  afterAll(() => server?.close());

  const call = (method: string, url: string, token?: string) =>
    server.app.inject({
      method: method as 'GET',
      url: concreteUrl(url),
      headers: token ? { authorization: `Bearer ${token}` } : {},
      ...(['POST', 'PUT', 'PATCH'].includes(method) ? { payload: {} } : {}),
    });

  it('finds a permission entry on every registered route', () => {
    const routes = registeredRoutes(server.app);
    expect(routes.length).toBeGreaterThan(20);
    expect(
      routes.filter((r) => r.permission === undefined).map((r) => `${r.method} ${r.url}`),
    ).toEqual([]);
  });

  it('lets every role through exactly the routes its permissions allow', async () => {
    const mismatches: string[] = [];
    const guarded = registeredRoutes(server.app).filter((r) => isPermission(r.permission));
    expect(guarded.length).toBeGreaterThan(10);
    for (const route of guarded) {
      for (const role of ROLES) {
        const res = await call(route.method, route.url, tokens.get(role));
        const allowed = rolesGrant([role], route.permission as (typeof PERMISSIONS)[number]);
        const denied = res.statusCode === 403 && res.json().code === 'AUTH_FORBIDDEN';
        if (allowed === denied || res.statusCode === 401) {
          mismatches.push(
            `${role} ${route.method} ${route.url} (${route.permission}): ${res.statusCode}`,
          );
        }
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('answers 401 to anonymous callers on every non-public route', async () => {
    const wrong: string[] = [];
    for (const route of registeredRoutes(server.app).filter((r) => r.permission !== 'public')) {
      const res = await call(route.method, route.url);
      if (res.statusCode !== 401 || res.json().code !== 'AUTH_UNAUTHENTICATED')
        wrong.push(`${route.method} ${route.url}: ${res.statusCode}`);
    }
    expect(wrong).toEqual([]);
  });

  it('admits every role to routes for any signed-in user, and no user token to device routes', async () => {
    const wrong: string[] = [];
    for (const route of registeredRoutes(server.app)) {
      for (const role of ROLES) {
        if (route.permission === 'authenticated') {
          const res = await call(route.method, route.url, tokens.get(role));
          if (res.statusCode === 401 || res.statusCode === 403)
            wrong.push(`${role} ${route.method} ${route.url}: ${res.statusCode}`);
        }
        if (route.permission === 'device') {
          const res = await call(route.method, route.url, tokens.get(role));
          if (res.statusCode !== 401)
            wrong.push(`${role} on device route ${route.method} ${route.url}: ${res.statusCode}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('rejects revoked, unknown and malformed tokens', async () => {
    const { token } = await server.tokenFor(['admin']);
    const ok = await call('GET', '/api/v1/users', token);
    expect(ok.statusCode).toBe(200);
    const list = await server.app.inject({
      method: 'GET',
      url: '/api/v1/tokens',
      headers: { authorization: `Bearer ${token}` },
    });
    const id = list.json().items[0].id;
    const del = await server.app.inject({
      method: 'DELETE',
      url: `/api/v1/tokens/${id}`,
      headers: { authorization: `Bearer ${token}` },
    });
    expect(del.statusCode).toBe(204);
    expect((await call('GET', '/api/v1/users', token)).statusCode).toBe(401);
    expect((await call('GET', '/api/v1/users', `updraft_api_${'A'.repeat(43)}`)).statusCode).toBe(
      401,
    );
    const malformed = await server.app.inject({
      method: 'GET',
      url: '/api/v1/users',
      headers: { authorization: 'Basic abc' },
    });
    expect(malformed.statusCode).toBe(401);
  });
});
