import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fleet, seedFleet } from '../testing/release-fixtures.js';
import { createTestServer, type TestServer } from '../testing/test-server.js';

const REPORT = JSON.stringify({ components: [{ id: '814100', version: '1.0.0' }] });

/**
 * A check-in whose headers arrived and whose body has not: the service is working on it (it
 * counts as pending) until the rest of the body comes. Answers a function sending the rest.
 */
async function heldCheckIn(port: number, token: string): Promise<() => Promise<string>> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let answer = '';
  socket.on('data', (chunk: Buffer) => {
    answer += chunk.toString('latin1');
  });
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(
    [
      'POST /api/device/v1/check-in HTTP/1.1',
      'host: 127.0.0.1',
      `authorization: Bearer ${token}`,
      'content-type: application/json',
      `content-length: ${REPORT.length}`,
      'connection: close',
      '',
      REPORT.slice(0, 5),
    ].join('\r\n'),
  );
  return async () => {
    socket.end(REPORT.slice(5));
    await ended;
    return answer;
  };
}

describe('device load shedding', () => {
  let server: TestServer;
  let fleet: Fleet;
  let base: string;
  let port: number;

  beforeAll(async () => {
    server = await createTestServer('sqlite', {
      device: { maxPendingRequests: 2, pollIntervalSeconds: 60 },
    });
    fleet = await seedFleet(server.app.updraft.db, { deviceCount: 3 });
    base = await server.app.listen({ port: 0, host: '127.0.0.1' });
    port = Number(new URL(base).port);
  });
  afterAll(() => server?.close());

  const checkIn = (token: string) =>
    fetch(`${base}/api/device/v1/check-in`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: REPORT,
    });

  it('refuses a device past the bound at once with 503 DEVICE_SERVICE_BUSY and a spread Retry-After, then serves again', async () => {
    const [a, b, c] = fleet.devices;
    const finishA = await heldCheckIn(port, a!.token);
    const finishB = await heldCheckIn(port, b!.token);
    // Both held requests reached the service (they count from their headers on).
    await expect.poll(() => server.app.updraft.deviceLoad.pending).toBe(2);

    const refused = await checkIn(c!.token);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('content-type')).toContain('application/problem+json');
    expect(((await refused.json()) as { code: string }).code).toBe('DEVICE_SERVICE_BUSY');
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(5);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // Refused before any work: the refused device was not even authenticated (its session is
    // not cached), and nothing about it was stored.
    const stored = await server.app.updraft.db
      .selectFrom('device_reports')
      .select('device_id')
      .where('device_id', '=', c!.id)
      .execute();
    expect(stored).toEqual([]);

    // The held ones are answered normally; their slots free up and the refused device gets in.
    expect(await finishA()).toMatch(/^HTTP\/1\.1 200/);
    expect(await finishB()).toMatch(/^HTTP\/1\.1 200/);
    expect(server.app.updraft.deviceLoad.pending).toBe(0);
    expect((await checkIn(c!.token)).status).toBe(200);
    expect(server.app.updraft.deviceLoad.shed).toBe(1);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^updraft_device_requests_shed_total 1$/m);
    expect(metrics).toMatch(/^updraft_device_requests_pending 0$/m);
  });

  it('frees the slot of a device that hangs up before its body arrived', async () => {
    const [a] = fleet.devices;
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      `POST /api/device/v1/check-in HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${a!.token}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{`,
    );
    await expect.poll(() => server.app.updraft.deviceLoad.pending).toBe(1);
    socket.destroy();
    await expect.poll(() => server.app.updraft.deviceLoad.pending).toBe(0);
  });

  it('never counts or refuses payload downloads and operator requests', async () => {
    const finishA = await heldCheckIn(port, fleet.devices[0]!.token);
    const finishB = await heldCheckIn(port, fleet.devices[1]!.token);
    await expect.poll(() => server.app.updraft.deviceLoad.pending).toBe(2);
    const operator = await fetch(`${base}/api/v1/devices`, {
      headers: await server.adminHeaders(),
    });
    expect(operator.status).toBe(200);
    // A signed-URL download is public (its URL is its authorisation): a bad one is judged on
    // its merits (403/404), not refused for load.
    const download = await fetch(`${base}/api/device/v1/artifacts/${'ab'.repeat(32)}`);
    expect(download.status).not.toBe(503);
    await finishA();
    await finishB();
  });
});
