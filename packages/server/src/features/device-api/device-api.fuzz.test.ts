import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Fleet, seedFleet, snapshot } from '../../testing/release-fixtures.js';
import { describeEachDialect } from '../../testing/test-database.js';
import { createTestServer, type TestServer } from '../../testing/test-server.js';

const RUNS = 100;

// Hostile bodies, headers and URLs at the device API: every answer is a typed 2xx/3xx/4xx (never a
// 5xx), and every refusal leaves the database and the blob store as they were.
describeEachDialect('device API fuzz', (dialect) => {
  let server: TestServer;
  let fleet: Fleet;
  beforeAll(async () => {
    server = await createTestServer(dialect);
    fleet = await seedFleet(server.app.updraft.db, { deviceCount: 1 });
  });
  afterAll(async () => {
    await server?.close();
  });

  // Once 500s (issue 9, 2.10): text with U+0000 (PostgreSQL) and a component listed twice.
  const nulText = fc
    .tuple(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }))
    .map(([a, b]) => `${a}\u0000${b}`);
  const twice = fc
    .constantFrom('814100', 'ab', '00')
    .map((id) => [{ id }, { id, version: '2.0.0', sequenceNumber: 2 }]);
  const anyJson = fc.oneof(
    fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
    fc.string({ maxLength: 200 }),
    fc
      .record(
        {
          components: fc.oneof(
            twice,
            fc.array(
              fc.record(
                {
                  id: fc.oneof(fc.stringMatching(/^[0-9a-f]{0,8}$/), fc.string()),
                  version: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
                  sequenceNumber: fc.oneof(fc.integer(), fc.double(), fc.string()),
                },
                { requiredKeys: [] },
              ),
              { maxLength: 40 },
            ),
          ),
          attributes: fc.dictionary(
            fc.oneof(fc.string({ maxLength: 70 }), nulText),
            fc.oneof(
              nulText,
              fc.string({ maxLength: 300 }),
              fc.integer(),
              fc.boolean(),
              fc.constant(null),
              fc.object(),
            ),
          ),
        },
        { requiredKeys: [] },
      )
      .map((v) => JSON.stringify(v)),
  );

  it('answers random check-in bodies with 200 or a typed 4xx', async () => {
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(
        anyJson,
        fc.option(fc.string({ maxLength: 100 })),
        async (body, ifNoneMatch) => {
          const before = await snapshot(server.app.updraft.db, server.config.blobs.dir);
          const res = await server.app.inject({
            method: 'POST',
            url: '/api/device/v1/check-in',
            headers: {
              authorization: `Bearer ${fleet.devices[0]!.token}`,
              'content-type': 'application/json',
              ...(ifNoneMatch === null ? {} : { 'if-none-match': ifNoneMatch }),
            },
            payload: body,
          });
          expect(res.statusCode).toBeLessThan(500);
          if (res.statusCode >= 400) {
            refused++;
            expect(res.json()).toMatchObject({ code: expect.stringMatching(/^[A-Z_]+$/) });
            expect(await snapshot(server.app.updraft.db, server.config.blobs.dir)).toEqual(before);
          }
        },
      ),
      { numRuns: RUNS },
    );
    expect(refused).toBeGreaterThan(0);
  });

  it('answers random feedback and download requests with a typed 4xx and changes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        anyJson,
        fc.string({ maxLength: 80 }),
        fc.string({ maxLength: 120 }),
        async (body, id, query) => {
          const before = await snapshot(server.app.updraft.db, server.config.blobs.dir);
          const feedback = await server.app.inject({
            method: 'POST',
            url: `/api/device/v1/actions/${encodeURIComponent(id)}/feedback`,
            headers: {
              authorization: `Bearer ${fleet.devices[0]!.token}`,
              'content-type': 'application/json',
            },
            payload: body,
          });
          expect(feedback.statusCode).toBeGreaterThanOrEqual(400);
          expect(feedback.statusCode).toBeLessThan(500);
          const download = await server.app.inject({
            method: 'GET',
            url: `/api/device/v1/artifacts/${encodeURIComponent(id)}?${query}`,
            headers: { range: query },
          });
          expect(download.statusCode).toBeGreaterThanOrEqual(400);
          expect(download.statusCode).toBeLessThan(500);
          expect(await snapshot(server.app.updraft.db, server.config.blobs.dir)).toEqual(before);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
