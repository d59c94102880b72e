import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Fleet, seedFleet, uploadRelease } from '../testing/release-fixtures.js';
import { describeEachDialect } from '../testing/test-database.js';
import { createTestServer, type TestServer } from '../testing/test-server.js';
import { registeredRoutes } from './access-control.js';

// Inputs that once reached the database and came back as 500s (issue 9, 2.10): text holding
// U+0000 (PostgreSQL's text cannot store it), dates that match the pattern but do not exist,
// and a check-in listing one component twice.
const nulText = fc
  .tuple(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }))
  .map(([a, b]) => `${a}\u0000${b}`);
const impossibleDate = fc.constantFrom(
  '2026-02-31T00:00:00Z',
  '2026-13-01T00:00:00Z',
  '2025-02-29T10:00:00.000Z',
  '2026-04-31T12:00:00+02:00',
  '2026-01-01T24:00:00Z',
  '2026-01-01T00:60:00Z',
  '2026-00-10T00:00:00Z',
);
const duplicateComponents = fc.constantFrom('814100', '814101', 'ab').map((id) => [
  { id, version: '1.0.0', sequenceNumber: 1 },
  { id, version: '2.0.0', sequenceNumber: 2 },
]);
// Field names the routes' schemas use, so generated bodies often get past validation.
const FIELDS = [
  'name',
  'username',
  'password',
  'roles',
  'deviceClassId',
  'deviceId',
  'releaseId',
  'vendorName',
  'modelName',
  'format',
  'key',
  'reason',
  'size',
  'components',
  'attributes',
  'tags',
  'message',
  'status',
  'reportId',
  'code',
  'progress',
  'bases',
  'anyInstalled',
  'maintenanceWindow',
  'start',
  'end',
  'from',
  'to',
  'kind',
  'expiresAt',
  'custom',
  'limit',
  'before',
  'actor',
] as const;

// Arbitrary JSON and arbitrary bytes at the management API: always a 4xx problem with a code,
// never a 5xx, and nothing is created.
describeEachDialect('management API under arbitrary input', (dialect) => {
  let server: TestServer;
  let headers: Record<string, string>;
  beforeAll(async () => {
    server = await createTestServer(dialect);
    headers = await server.adminHeaders();
  });
  afterAll(() => server?.close());

  const targets = [
    ['POST', '/api/v1/device-classes'],
    ['POST', '/api/v1/devices'],
    ['POST', '/api/v1/devices/bulk'],
    ['POST', '/api/v1/users'],
    ['POST', '/api/v1/auth/login'],
    ['POST', '/api/v1/tokens'],
    ['GET', '/api/v1/devices'],
  ] as const;

  it('answers every malformed request with a coded 4xx and changes nothing', async () => {
    const counts = async () => {
      const { db } = server.app.updraft;
      const n = async (t: 'devices' | 'device_classes' | 'users') =>
        Number(
          (
            await db
              .selectFrom(t)
              .select((eb) => eb.fn.countAll().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        );
      return [await n('devices'), await n('device_classes'), await n('users')];
    };
    const before = await counts();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...targets),
        fc.oneof(
          fc.json({ maxDepth: 4 }).map((s) => ({ body: s, type: 'application/json' })),
          fc
            .uint8Array({ maxLength: 200 })
            .map((b) => ({ body: Buffer.from(b), type: 'application/json' })),
          fc.string({ maxLength: 60 }).map((s) => ({ body: s, type: 'text/plain' })),
        ),
        fc.string({ maxLength: 40 }),
        async ([method, url], { body, type }, query) => {
          const res = await server.app.inject({
            method,
            url: `${url}?${encodeURIComponent(query)}=${encodeURIComponent(query)}`,
            headers: { ...headers, 'content-type': type },
            ...(method === 'POST' ? { payload: body } : {}),
          });
          if (res.statusCode >= 500)
            throw new Error(`${method} ${url} → ${res.statusCode}: ${res.body}`);
          if (res.statusCode >= 400) expect(res.json().code).toMatch(/^[A-Z_]+$/);
        },
      ),
      { numRuns: 250 },
    );
    // Arbitrary JSON can (rarely) be a valid request; nothing in it names a known class or user,
    // so no device or user can have been created.
    const after = await counts();
    expect(after[0]).toBe(before[0]);
    expect(after[2]).toBe(before[2]);
  });
});

// Every registered route, with ids that exist and hostile values: never a 5xx, on both databases.
describeEachDialect('every route under hostile input', (dialect) => {
  let server: TestServer;
  let admin: Record<string, string>;
  let fleet: Fleet;
  let ids: string[];
  beforeAll(async () => {
    server = await createTestServer(dialect);
    admin = await server.adminHeaders();
    fleet = await seedFleet(server.app.updraft.db, { deviceCount: 2 });
    const releaseId = await uploadRelease(server.app, admin, fleet, 2, [randomBytes(500)]);
    const assigned = await server.app.inject({
      method: 'POST',
      url: '/api/v1/actions',
      headers: { ...admin, 'content-type': 'application/json' },
      payload: { deviceId: fleet.devices[0]!.id, releaseId },
    });
    expect(assigned.statusCode).toBe(201);
    ids = [fleet.devices[0]!.id, fleet.deviceClassId, releaseId, assigned.json().id];
  });
  afterAll(() => server?.close());

  // First: the fuzz below may decommission the seeded devices.
  it('refuses NUL text, impossible dates and duplicate components with a typed 4xx', async () => {
    const json = { ...admin, 'content-type': 'application/json' };
    const device = {
      authorization: `Bearer ${fleet.devices[1]!.token}`,
      'content-type': 'application/json',
    };
    const cases = [
      { method: 'POST', url: '/api/v1/tokens', headers: json, payload: { name: 'a\u0000b' } },
      {
        method: 'POST',
        url: '/api/device/v1/check-in',
        headers: device,
        payload: { attributes: { site: 'x\u0000' } },
      },
      {
        method: 'POST',
        url: `/api/device/v1/actions/${ids[3]}/feedback`,
        headers: { ...device, authorization: `Bearer ${fleet.devices[0]!.token}` },
        payload: { reportId: 'report-0001', status: 'downloading', message: 'half\u0000way' },
      },
      { method: 'GET', url: '/api/v1/audit?from=2026-02-31T00:00:00Z', headers: admin },
      {
        method: 'POST',
        url: '/api/device/v1/check-in',
        headers: device,
        payload: { components: [{ id: '814100' }, { id: '814100' }] },
      },
    ] as const;
    const codes: string[] = [];
    for (const c of cases) {
      const res = await server.app.inject({
        method: c.method,
        url: c.url,
        headers: c.headers,
        ...('payload' in c ? { payload: c.payload } : {}),
      });
      expect(res.statusCode, res.body).toBeGreaterThanOrEqual(400);
      expect(res.statusCode, res.body).toBeLessThan(500);
      expect(res.headers['content-type']).toContain('application/problem+json');
      codes.push(res.json().code);
    }
    expect(codes).toEqual([
      'HTTP_VALIDATION_FAILED',
      'HTTP_VALIDATION_FAILED',
      'HTTP_VALIDATION_FAILED',
      'HTTP_VALIDATION_FAILED',
      'DEVICE_COMPONENT_DUPLICATE',
    ]);
  });

  it('never answers 5xx, whatever the route, path, query and body', async () => {
    const routes = registeredRoutes(server.app).filter((r) => !r.url.startsWith('/api/docs'));
    expect(routes.length).toBeGreaterThan(30);
    const value = fc.oneof(
      fc.string({ maxLength: 20 }),
      nulText,
      impossibleDate,
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      duplicateComponents,
      fc.constantFrom(...ids),
      fc.record({ start: impossibleDate, end: impossibleDate }),
      fc.dictionary(
        fc.oneof(fc.string({ maxLength: 8 }), nulText),
        fc.oneof(nulText, fc.integer()),
      ),
    );
    const text = fc.oneof(
      fc.string({ maxLength: 20 }),
      nulText,
      impossibleDate,
      fc.constantFrom(...ids),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        fc.array(text, { minLength: 2, maxLength: 2 }),
        fc.dictionary(fc.constantFrom(...FIELDS), text, { maxKeys: 3 }),
        fc.oneof(
          fc.dictionary(fc.constantFrom(...FIELDS), value, { maxKeys: 5 }),
          fc.jsonValue({ maxDepth: 3 }),
        ),
        async (route, params, query, body) => {
          let n = 0;
          const url = route.url.replaceAll(/:[A-Za-z]+/g, () =>
            encodeURIComponent(params[n++ % 2]!),
          );
          const auth =
            route.permission === 'device'
              ? { authorization: `Bearer ${fleet.devices[1]!.token}` }
              : route.permission === 'public'
                ? {}
                : admin;
          const search = new URLSearchParams(query).toString();
          const res = await server.app.inject({
            method: route.method as 'GET',
            url: `${url}${search ? `?${search}` : ''}`,
            headers: { ...auth, 'content-type': 'application/json' },
            ...(route.method === 'GET' || route.method === 'HEAD'
              ? {}
              : { payload: JSON.stringify(body) }),
          });
          if (res.statusCode >= 500)
            throw new Error(`${route.method} ${url}?${search} → ${res.statusCode}: ${res.body}`);
          if (res.statusCode >= 400 && route.method !== 'HEAD')
            expect(res.json().code).toMatch(/^[A-Z][A-Z0-9_]+$/);
        },
      ),
      { numRuns: 600 },
    );
  });
});
