import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fleet, seedFleet } from '../testing/release-fixtures.js';
import { createTestServer, type TestServer } from '../testing/test-server.js';

const completed = (logs: string[]) =>
  logs
    .filter((l) => l.includes('"request completed"'))
    .map(
      (l) => JSON.parse(l) as { level: number; method: string; path: string; statusCode: number },
    );

describe('request log', () => {
  let server: TestServer;
  let fleet: Fleet;
  beforeAll(async () => {
    server = await createTestServer('sqlite'); // logLevel info
    fleet = await seedFleet(server.app.updraft.db);
  });
  afterAll(() => server?.close());

  it('writes one line per management request, with the path and never the query', async () => {
    server.logs.length = 0;
    await server.app.inject({
      method: 'GET',
      url: '/api/v1/devices?limit=5',
      headers: await server.adminHeaders(),
    });
    const sig = 'c2lnbmF0dXJlLXRoYXQtbXVzdC1ub3QtbGVhaw';
    await server.app.inject({
      method: 'GET',
      url: `/api/device/v1/artifacts/${'a'.repeat(64)}?tenant=ten_default&device=dev_x&exp=1&sig=${sig}`,
    });
    const lines = completed(server.logs);
    expect(lines.map((l) => [l.method, l.path])).toEqual([
      ['GET', '/api/v1/devices'],
      ['GET', `/api/device/v1/artifacts/${'a'.repeat(64)}`],
    ]);
    expect(lines[1]!.statusCode).toBeGreaterThanOrEqual(400); // failures of devices are logged
    expect(server.logs.join('')).not.toContain(sig);
    expect(server.logs.join('')).not.toContain('limit=5');
  });

  it('keeps successful device polls, probes and scrapes at debug, out of the default info log', async () => {
    const poll = () =>
      server.app.inject({
        method: 'POST',
        url: '/api/device/v1/check-in',
        headers: {
          authorization: `Bearer ${fleet.devices[0]!.token}`,
          'content-type': 'application/json',
        },
        payload: {},
      });
    server.logs.length = 0;
    const res = await poll();
    expect(res.statusCode).toBe(200);
    // Probes and scrapes are as frequent: quiet too.
    for (const url of ['/healthz', '/readyz', '/metrics'])
      expect((await server.app.inject({ method: 'GET', url })).statusCode).toBe(200);
    expect(completed(server.logs)).toEqual([]);
    server.app.log.level = 'debug';
    try {
      await poll();
    } finally {
      server.app.log.level = 'info';
    }
    expect(completed(server.logs).map((l) => [l.level, l.path])).toEqual([
      [20, '/api/device/v1/check-in'],
    ]);
    expect(server.logs.join('')).not.toContain(fleet.devices[0]!.token);
  });
});
