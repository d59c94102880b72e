import { randomBytes, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildServer } from '../../build-server.js';
import { createDatabase, type DatabaseHandle } from '../../db/create-database.js';
import type { UpdraftApp } from '../../http/app-types.js';
import { type Fleet, seedFleet, uploadRelease } from '../../testing/release-fixtures.js';
import { describeEachDialect } from '../../testing/test-database.js';
import { createTestServer, type TestServer } from '../../testing/test-server.js';
import { ActionService } from '../actions/action.service.js';

// Idle check-ins are answered from cached device sessions. These tests prove the cache is used
// and that every change through the API shows on the very next poll, on this replica and (on
// PostgreSQL) on another one.
describeEachDialect('device sessions', (dialect) => {
  let server: TestServer;
  let admin: Record<string, string>;
  let fleet: Fleet;
  let releaseId: string;
  const report = JSON.stringify({ components: [{ id: '814100', version: '1.0.0' }] });
  // The session cache's clock, stepped by the tests (its age bound without waiting for it).
  let clockMs = 0;

  beforeAll(async () => {
    server = await createTestServer(dialect, {}, { sessionClock: () => clockMs });
    admin = { ...(await server.adminHeaders()), 'content-type': 'application/json' };
    fleet = await seedFleet(server.app.updraft.db, { deviceCount: 5 });
    releaseId = await uploadRelease(server.app, admin, fleet, 2, [randomBytes(1_000)], '1.1.0');
  });
  afterAll(() => server?.close());

  const checkIn = (app: UpdraftApp, token: string, etag?: string) =>
    app.inject({
      method: 'POST',
      url: '/api/device/v1/check-in',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        ...(etag ? { 'if-none-match': etag } : {}),
      },
      payload: report,
    });
  /** Polls twice; the second, idle poll is answered from the cached session. */
  const pollIdle = async (app: UpdraftApp, token: string) => {
    const first = await checkIn(app, token);
    expect(first.statusCode).toBe(200);
    const etag = String(first.headers.etag);
    expect((await checkIn(app, token, etag)).statusCode).toBe(304);
    return etag;
  };
  const api = (method: 'POST' | 'PATCH', url: string, payload?: unknown) =>
    server.app.inject({
      method,
      url,
      headers: payload ? admin : { authorization: admin.authorization! },
      ...(payload ? { payload } : {}),
    });

  const metric = async (sample: string) => {
    const text = (await server.app.inject({ method: 'GET', url: '/metrics' })).body;
    const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
    return line === undefined ? undefined : Number(line.slice(sample.length + 1));
  };

  it('serves an idle poll without reading the credential from the database', async () => {
    const { id, token } = fleet.devices[0]!;
    const hits = (await metric('updraft_device_session_cache_lookups_total{result="hit"}')) ?? 0;
    const etag = await pollIdle(server.app, token);
    // Its stored report dropped the session; once that change has arrived everywhere, one poll
    // fills the cache and the next is a hit.
    await server.app.updraft.deviceChanges.settled();
    for (let i = 0; i < 2; i++)
      expect((await checkIn(server.app, token, etag)).statusCode).toBe(304);
    expect(
      await metric('updraft_device_session_cache_lookups_total{result="hit"}'),
    ).toBeGreaterThan(hits);
    expect(await metric('updraft_device_session_cache_entries')).toBeGreaterThan(0);
    expect(await metric('updraft_device_change_feed_live')).toBe(1);
    // Plain SQL through a second connection: PostgreSQL's triggers tell every replica; a SQLite
    // file is owned by one process, whose triggers do not see another connection's writes — so a
    // still-valid answer proves the cached session (and the documented SQLite bound).
    const other: DatabaseHandle = await createDatabase(server.database.config);
    try {
      await other.db
        .updateTable('device_tokens')
        .set({ revoked_at: new Date().toISOString() })
        .where('device_id', '=', id)
        .execute();
    } finally {
      await other.close();
    }
    await server.app.updraft.deviceChanges.settled();
    const after = await checkIn(server.app, token, etag);
    if (server.app.updraft.dbSupport.supportsConcurrentWriters) {
      expect(after.statusCode).toBe(401);
    } else {
      // SQLite's guarantee is the age bound: the session holds until it is older than
      // device.sessionCacheMaxAgeSeconds, then the revoked token is refused.
      expect(after.statusCode).toBe(304);
      clockMs += server.config.device.sessionCacheMaxAgeSeconds * 1000 - 1;
      expect((await checkIn(server.app, token, etag)).statusCode).toBe(304);
      clockMs += 2;
      expect((await checkIn(server.app, token, etag)).statusCode).toBe(401);
    }
  });

  it('shows an assigned action, then its end, on the very next poll', async () => {
    const { id, token } = fleet.devices[1]!;
    const idleTag = await pollIdle(server.app, token);
    const assigned = await api('POST', '/api/v1/actions', { deviceId: id, releaseId });
    expect(assigned.statusCode).toBe(201);
    const actionId = assigned.json().id;
    const withAction = await checkIn(server.app, token, idleTag);
    expect(withAction.statusCode).toBe(200);
    expect(withAction.json().action.id).toBe(actionId);
    for (const status of ['downloading', 'downloaded', 'installing', 'rebooting', 'success']) {
      const res = await server.app.inject({
        method: 'POST',
        url: `/api/device/v1/actions/${actionId}/feedback`,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        payload: { reportId: randomUUID(), status },
      });
      expect(res.statusCode).toBe(200);
    }
    // Right after its last report the device polls: no stale action.
    const done = await checkIn(server.app, token, String(withAction.headers.etag));
    expect(done.statusCode).toBe(200);
    expect(done.json().action).toBeNull();
  });

  it('refuses a rotated token and a decommissioned device from the very next request', async () => {
    const { id, token } = fleet.devices[2]!;
    await pollIdle(server.app, token);
    const rotated = await api('POST', `/api/v1/devices/${id}/token`);
    expect(rotated.statusCode).toBe(200);
    expect((await checkIn(server.app, token)).statusCode).toBe(401);
    const fresh = rotated.json().token as string;
    await pollIdle(server.app, fresh);
    expect((await api('POST', `/api/v1/devices/${id}/decommission`)).statusCode).toBe(200);
    expect((await checkIn(server.app, fresh)).statusCode).toBe(401);
  });

  it('stores a changed report although the previous one is cached', async () => {
    const { id, token } = fleet.devices[3]!;
    await pollIdle(server.app, token);
    const res = await server.app.inject({
      method: 'POST',
      url: '/api/device/v1/check-in',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: { components: [{ id: '814100', version: '1.1.0' }] },
    });
    expect(res.statusCode).toBe(200);
    const components = await server.app.updraft.db
      .selectFrom('device_components')
      .select('version')
      .where('device_id', '=', id)
      .execute();
    expect(components).toEqual([{ version: '1.1.0' }]);
    // And back again: the cached digest of the first report must not hide this change.
    await pollIdle(server.app, token);
    const back = await server.app.updraft.db
      .selectFrom('device_components')
      .select('version')
      .where('device_id', '=', id)
      .execute();
    expect(back).toEqual([{ version: '1.0.0' }]);
  });

  it('announces its own action changes after commit (before the database notification lands)', async () => {
    const announced: string[] = [];
    const actions = new ActionService(
      server.app.updraft.db,
      () => new Date(),
      { announce: (_tenantId, deviceId) => announced.push(deviceId) },
      server.app.wiring.webhooks.outbox,
    );
    const device = fleet.devices[4]!; // no action yet (a success would raise its installed sequence)
    const ctx = { tenantId: fleet.tenantId, actorId: null, ip: null, requestId: null };
    const action = await actions.assign(ctx, { deviceId: device.id, releaseId });
    expect(announced).toEqual([device.id]);
    const principal = { tenantId: fleet.tenantId, deviceId: device.id };
    await actions.report(principal, action.id, {
      reportId: randomUUID(),
      status: 'downloading',
      progress: 1,
      code: null,
      message: null,
    });
    expect(announced).toEqual([device.id]); // still open: nothing a session holds changed
    await actions.report(principal, action.id, {
      reportId: randomUUID(),
      status: 'failure',
      progress: null,
      code: 'TEST',
      message: null,
    });
    expect(announced).toEqual([device.id, device.id]);
  });

  // Several replicas share one PostgreSQL database (SQLite is single-process by design).
  if (dialect === 'postgres')
    it('tells another replica: a change made on one shows on the other', async () => {
      const handle = await createDatabase(server.database.config);
      const replica = await buildServer(server.config, {
        database: handle,
        print: () => undefined,
        logStream: new Writable({ write: (_c, _e, cb) => cb() }),
      });
      try {
        const [a, b] = (await seedFleet(server.app.updraft.db, { deviceCount: 2 })).devices;
        // Devices of this new fleet need a release of their own class.
        const fleet2 = await seedFleet(server.app.updraft.db, { deviceCount: 1 });
        const release2 = await uploadRelease(server.app, admin, fleet2, 1, [randomBytes(100)]);
        const c = fleet2.devices[0]!;
        for (const d of [a!, b!, c]) await pollIdle(replica, d.token);

        expect((await api('POST', `/api/v1/devices/${a!.id}/decommission`)).statusCode).toBe(200);
        const rotated = await api('POST', `/api/v1/devices/${b!.id}/token`);
        const assigned = await api('POST', '/api/v1/actions', {
          deviceId: c.id,
          releaseId: release2,
        });
        expect(assigned.statusCode).toBe(201);
        await replica.updraft.deviceChanges.settled();

        expect((await checkIn(replica, a!.token)).statusCode).toBe(401);
        expect((await checkIn(replica, b!.token)).statusCode).toBe(401);
        expect((await checkIn(replica, rotated.json().token)).statusCode).toBe(200);
        const withAction = await checkIn(replica, c.token);
        expect(withAction.json().action.id).toBe(assigned.json().id);
      } finally {
        await replica.close();
        await handle.close();
      }
    });
});
