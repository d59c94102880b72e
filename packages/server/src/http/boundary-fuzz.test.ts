import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDialect } from '../testing/test-database.js';
import { createTestServer, type TestServer } from '../testing/test-server.js';

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
