import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fleet, seedFleet, signedEnvelope } from '../../testing/release-fixtures.js';
import { describeEachDialect } from '../../testing/test-database.js';
import { createTestServer, type TestServer } from '../../testing/test-server.js';

describeEachDialect('action types and recurring maintenance windows', (dialect) => {
  let server: TestServer;
  let base: string;
  let admin: Record<string, string>;
  let fleet: Fleet;
  let releaseId: string;
  const payload = randomBytes(2_000);

  beforeAll(async () => {
    server = await createTestServer(dialect);
    base = await server.app.listen({ port: 0, host: '127.0.0.1' });
    admin = { ...(await server.adminHeaders()), 'content-type': 'application/json' };
    fleet = await seedFleet(server.app.updraft.db, { deviceCount: 2 });
    const envelope = await signedEnvelope(fleet, fleet.key, 7, [payload], '1.3.0');
    const res = await fetch(`${base}/api/v1/releases`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({
        deviceClassId: fleet.deviceClassId,
        envelope: Buffer.from(envelope).toString('base64'),
        payloads: [{ data: payload.toString('base64') }],
      }),
    });
    expect(res.status).toBe(201);
    releaseId = ((await res.json()) as { id: string }).id;
  });
  afterAll(async () => {
    await server?.close();
  });

  const assign = (body: Record<string, unknown>, device = 0) =>
    fetch(`${base}/api/v1/actions`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ deviceId: fleet.devices[device]!.id, releaseId, ...body }),
    });
  const actionCount = async () =>
    (await server.app.updraft.db.selectFrom('actions').select('id').execute()).length;
  const window = { cron: '0 2 * * 1-5', durationSeconds: 7200, timeZone: 'Europe/Berlin' };

  describe('refuses with 422 and a code, changing nothing', () => {
    it.each([
      [
        'a bad cron expression',
        { recurringWindow: { ...window, cron: '0 25 * * *' } },
        'ACTION_WINDOW_INVALID',
        'SCHEDULE_CRON_INVALID',
      ],
      [
        'a cron expression with four fields',
        { recurringWindow: { ...window, cron: '0 2 * *' } },
        'ACTION_WINDOW_INVALID',
        'SCHEDULE_CRON_INVALID',
      ],
      [
        'an unknown time zone',
        { recurringWindow: { ...window, timeZone: 'Europe/Atlantis' } },
        'ACTION_WINDOW_INVALID',
        'SCHEDULE_TIME_ZONE_INVALID',
      ],
      [
        'a window shorter than a minute',
        { recurringWindow: { ...window, durationSeconds: 30 } },
        'ACTION_WINDOW_INVALID',
        'SCHEDULE_CRON_INVALID',
      ],
      [
        'a window that never opens',
        { recurringWindow: { ...window, cron: '0 0 30 2 *' } },
        'ACTION_WINDOW_INVALID',
        'NEVER_OPENS',
      ],
      [
        'forceAfter without time-forced',
        { type: 'soft', forceAfter: '2026-12-24T00:00:00Z' },
        'ACTION_TYPE_INVALID',
        undefined,
      ],
      [
        'forceAfter without a type',
        { forceAfter: '2026-12-24T00:00:00Z' },
        'ACTION_TYPE_INVALID',
        undefined,
      ],
      ['time-forced without forceAfter', { type: 'time-forced' }, 'ACTION_TYPE_INVALID', undefined],
      [
        'downloadOnly contradicting the type',
        { type: 'forced', downloadOnly: true },
        'ACTION_TYPE_INVALID',
        undefined,
      ],
    ])('%s', async (_name, body, code, reason) => {
      const before = await actionCount();
      const res = await assign(body);
      expect(res.status).toBe(422);
      expect(res.headers.get('content-type')).toMatch(/problem\+json/);
      const problem = (await res.json()) as { code: string; detail: string };
      expect(problem.code).toBe(code);
      if (reason !== undefined) expect(JSON.stringify(problem)).toContain(reason);
      expect(await actionCount()).toBe(before);
    });

    it('an unknown action type (schema)', async () => {
      const res = await assign({ type: 'urgent' });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { code: string }).code).toBe('HTTP_VALIDATION_FAILED');
    });
  });

  it('stores a time-forced action with a recurring window, shows it and sends it to the device', async () => {
    const forceAfter = '2026-12-24T00:00:00.000Z';
    let res = await assign({ type: 'time-forced', forceAfter, recurringWindow: window });
    expect(res.status).toBe(201);
    const action = (await res.json()) as { id: string };
    const expected = {
      type: 'time-forced',
      downloadOnly: false,
      forceAfter,
      recurringWindow: window,
      maintenanceWindow: null,
    };
    expect(action).toMatchObject(expected);
    res = await fetch(`${base}/api/v1/actions/${action.id}`, { headers: admin });
    expect(await res.json()).toMatchObject(expected);
    res = await fetch(`${base}/api/device/v1/check-in`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${fleet.devices[0]!.token}`,
        'content-type': 'application/json',
      },
      body: '{}',
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { action: unknown }).action).toMatchObject({
      id: action.id,
      ...expected,
    });
  });

  it('reads downloadOnly as type download-only and derives it back', async () => {
    const res = await assign({ downloadOnly: true }, 1);
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({
      type: 'download-only',
      downloadOnly: true,
      forceAfter: null,
    });
  });
});
