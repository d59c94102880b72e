import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fleet, seedFleet, signedEnvelope, snapshot } from '../../testing/release-fixtures.js';
import { describeEachDialect } from '../../testing/test-database.js';
import { createTestServer, type TestServer } from '../../testing/test-server.js';

// The whole path over real HTTP on loopback: upload a signed release, assign it, and drive the
// device API (check-in, envelope, ranged download, feedback) to a successful action.
describeEachDialect('device API flow', (dialect) => {
  let server: TestServer;
  let base: string;
  let admin: Record<string, string>;
  let fleet: Fleet;
  const payload = randomBytes(300_000);

  beforeAll(async () => {
    server = await createTestServer(dialect);
    base = await server.app.listen({ port: 0, host: '127.0.0.1' });
    admin = { ...(await server.adminHeaders()), 'content-type': 'application/json' };
    fleet = await seedFleet(server.app.updraft.db, { deviceCount: 2 });
  });
  afterAll(async () => {
    await server?.close();
  });

  const device = (i = 0) => ({
    authorization: `Bearer ${fleet.devices[i]!.token}`,
    'content-type': 'application/json',
  });
  const json = async (res: Response) =>
    (await res.json()) as Record<string, unknown> & { code?: string };

  it('runs a release from upload to a successful action, visible in the API and the audit log', async () => {
    const envelope = await signedEnvelope(fleet, fleet.key, 7, [payload], '1.3.0');
    let res = await fetch(`${base}/api/v1/releases`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({
        deviceClassId: fleet.deviceClassId,
        envelope: Buffer.from(envelope).toString('base64'),
        payloads: [{ data: payload.toString('base64') }],
      }),
    });
    expect(res.status).toBe(201);
    const release = await json(res);
    expect(release).toMatchObject({ version: '1.3.0', sequenceNumber: 7, signerKids: [fleet.kid] });
    expect((release.payloads as { size: number }[])[0]?.size).toBe(payload.length);

    res = await fetch(`${base}/api/v1/releases/${release.id}`, { headers: admin });
    expect(await json(res)).toMatchObject({
      id: release.id,
      manifestDigest: release.manifestDigest,
      components: [{ id: '814100', imageSize: payload.length, encrypted: false }],
      text: { componentVersion: '1.3.0' },
      deltaDeliveries: 0,
      deltaBytesSaved: 0,
    });

    // Idle check-in, then the same poll with its ETag: 304 and nothing written.
    const report = {
      components: [{ id: '814100', version: '1.2.0', sequenceNumber: 6 }],
      attributes: { battery: 80 },
    };
    res = await fetch(`${base}/api/device/v1/check-in`, {
      method: 'POST',
      headers: device(),
      body: JSON.stringify(report),
    });
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ pollIntervalSeconds: 300, action: null });
    const idleTag = res.headers.get('etag')!;
    const before = await snapshot(server.app.updraft.db, server.config.blobs.dir);
    const reportRow = await server.app.updraft.db
      .selectFrom('device_reports')
      .selectAll()
      .executeTakeFirstOrThrow();
    res = await fetch(`${base}/api/device/v1/check-in`, {
      method: 'POST',
      headers: { ...device(), 'if-none-match': idleTag },
      body: JSON.stringify(report),
    });
    expect(res.status).toBe(304);
    expect(await snapshot(server.app.updraft.db, server.config.blobs.dir)).toEqual(before);
    expect(
      await server.app.updraft.db
        .selectFrom('device_reports')
        .selectAll()
        .executeTakeFirstOrThrow(),
    ).toEqual(reportRow);

    res = await fetch(`${base}/api/v1/actions`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ deviceId: fleet.devices[0]!.id, releaseId: release.id }),
    });
    expect(res.status).toBe(201);
    const action = await json(res);

    // The old ETag no longer matches: the device gets its action.
    res = await fetch(`${base}/api/device/v1/check-in`, {
      method: 'POST',
      headers: { ...device(), 'if-none-match': idleTag },
      body: JSON.stringify(report),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      pollIntervalSeconds: number;
      action: { envelopeUrl: string; payloads: { url: string; size: number; digest: string }[] };
    };
    expect(body.action).toMatchObject({
      id: action.id,
      state: 'assigned',
      cancelRequested: false,
      release: { id: release.id, version: '1.3.0', sequenceNumber: 7 },
    });
    expect(body.pollIntervalSeconds).toBe(60);

    // The same answer again is a 304 for its ETag; it changes once the action moves on.
    const actionTag = res.headers.get('etag')!;
    res = await fetch(`${base}/api/device/v1/check-in`, {
      method: 'POST',
      headers: { ...device(), 'if-none-match': actionTag },
      body: JSON.stringify(report),
    });
    expect(res.status).toBe(304);

    res = await fetch(`${base}${body.action.envelopeUrl}`, { headers: device() });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/suit-envelope+cose');
    expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(envelope))).toBe(true);

    const url = `${base}${body.action.payloads[0]!.url}`;
    res = await fetch(url, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(payload.length));
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    res = await fetch(url, { headers: { range: 'bytes=100000-' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(
      `bytes 100000-${payload.length - 1}/${payload.length}`,
    );
    expect(Buffer.from(await res.arrayBuffer()).equals(payload.subarray(100_000))).toBe(true);
    res = await fetch(url);
    expect(Buffer.from(await res.arrayBuffer()).equals(payload)).toBe(true);

    const feedback = (
      status: string,
      extra: Record<string, unknown> = {},
      reportId = randomUUID(),
    ) =>
      fetch(`${base}/api/device/v1/actions/${action.id}/feedback`, {
        method: 'POST',
        headers: device(),
        body: JSON.stringify({ reportId, status, ...extra }),
      });
    const replayId = randomUUID();
    expect((await feedback('downloading', { progress: 40 }, replayId)).status).toBe(200);
    for (const status of ['downloaded', 'installing', 'rebooting'])
      expect((await feedback(status)).status).toBe(200);
    // The replay of an earlier report is answered with the current state and records nothing.
    const eventsBefore = await server.app.updraft.db
      .selectFrom('action_events')
      .selectAll()
      .execute();
    res = await feedback('downloading', { progress: 40 }, replayId);
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ state: 'rebooting', replayed: true });
    expect(await server.app.updraft.db.selectFrom('action_events').selectAll().execute()).toEqual(
      eventsBefore,
    );
    res = await fetch(`${base}/api/device/v1/check-in`, {
      method: 'POST',
      headers: { ...device(), 'if-none-match': actionTag },
      body: JSON.stringify(report),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { action: { state: string } }).action.state).toBe('rebooting');
    res = await feedback('success');
    expect(await json(res)).toMatchObject({ state: 'success', replayed: false });

    // After a terminal status every report is illegal.
    res = await feedback('installing');
    expect(res.status).toBe(409);
    expect((await json(res)).code).toBe('ACTION_TRANSITION_INVALID');

    res = await fetch(`${base}/api/v1/actions/${action.id}`, { headers: admin });
    const shown = await json(res);
    expect(shown).toMatchObject({ state: 'success', open: false });
    expect((shown.events as { status: string }[]).map((e) => e.status)).toEqual([
      'assigned',
      'downloading',
      'downloaded',
      'installing',
      'rebooting',
      'success',
    ]);
    res = await fetch(`${base}/api/v1/devices/${fleet.devices[0]!.id}/actions`, { headers: admin });
    expect(((await json(res)).items as { id: string }[]).map((a) => a.id)).toEqual([action.id]);

    const audit = await server.app.updraft.db
      .selectFrom('audit_log')
      .select(['action', 'resource_id', 'outcome'])
      .execute();
    expect(audit).toEqual(
      expect.arrayContaining([
        { action: 'release.create', resource_id: release.id, outcome: 'success' },
        { action: 'action.assign', resource_id: action.id, outcome: 'success' },
      ]),
    );
    // Reported components landed in the platform's device view tables, and the success
    // replaced them with what the release installed (the device ran 1.2.0 before).
    const components = await server.app.updraft.db
      .selectFrom('device_components')
      .selectAll()
      .execute();
    expect(
      components.map((c) => [c.device_id, c.component_id, c.version, Number(c.sequence_number)]),
    ).toEqual([[fleet.devices[0]!.id, '814100', '1.3.0', 7]]);
  });

  it('counts check-ins, downloads and actions by state in /metrics', async () => {
    const res = await fetch(`${base}/metrics`);
    const text = await res.text();
    expect(text).toMatch(/updraft_device_checkins_total\{outcome="not_modified"\} [1-9]/);
    expect(text).toMatch(/updraft_downloads_total\{kind="range"\} [1-9]/);
    expect(text).toMatch(/updraft_download_bytes_total [1-9]/);
    expect(text).toMatch(/updraft_actions\{state="success"\} 1/);
    // The payload was downloaded whole once: decrypted, and kept for the next download.
    expect(text).toMatch(/updraft_blob_plaintext_cache_bytes [1-9]/);
    expect(text).toMatch(/updraft_blob_plaintext_cache_reads_total\{result="miss"\} [1-9]/);
  });

  describe('cancellation', () => {
    it('sets cancelRequested, which the device acknowledges with canceled', async () => {
      const envelope = await signedEnvelope(fleet, fleet.key, 8, [payload]);
      let res = await fetch(`${base}/api/v1/releases`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({
          deviceClassId: fleet.deviceClassId,
          envelope: Buffer.from(envelope).toString('base64'),
          payloads: [{ data: payload.toString('base64') }],
        }),
      });
      const release = await json(res);
      const window = { start: '2026-12-01T01:00:00.000Z', end: '2026-12-01T03:00:00.000Z' };
      res = await fetch(`${base}/api/v1/actions`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({
          deviceId: fleet.devices[1]!.id,
          releaseId: release.id,
          maintenanceWindow: { start: window.end, end: window.start },
        }),
      });
      expect(res.status).toBe(422);
      expect((await json(res)).code).toBe('RESOURCE_INVALID');
      res = await fetch(`${base}/api/v1/actions`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({
          deviceId: fleet.devices[1]!.id,
          releaseId: release.id,
          maintenanceWindow: window,
        }),
      });
      const action = await json(res);
      expect(action).toMatchObject({ maintenanceWindow: window, state: 'assigned' });
      res = await fetch(`${base}/api/device/v1/check-in`, {
        method: 'POST',
        headers: device(1),
        body: '{}',
      });
      expect(
        ((await res.json()) as { action: { maintenanceWindow: unknown } }).action.maintenanceWindow,
      ).toEqual(window);
      // One open action per device.
      res = await fetch(`${base}/api/v1/actions`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({ deviceId: fleet.devices[1]!.id, releaseId: release.id }),
      });
      expect(res.status).toBe(409);
      expect((await json(res)).code).toBe('ACTION_ALREADY_OPEN');
      // Deleting a release an open action deploys is refused.
      res = await fetch(`${base}/api/v1/releases/${release.id}`, {
        method: 'DELETE',
        headers: { authorization: admin.authorization! },
      });
      expect(res.status).toBe(409);
      expect((await json(res)).code).toBe('RELEASE_IN_USE');

      res = await fetch(`${base}/api/v1/actions/${action.id}/cancel`, {
        method: 'POST',
        headers: { authorization: admin.authorization! },
      });
      expect(await json(res)).toMatchObject({
        cancelRequested: true,
        state: 'assigned',
        open: true,
      });
      res = await fetch(`${base}/api/device/v1/check-in`, {
        method: 'POST',
        headers: device(1),
        body: '{}',
      });
      expect(
        ((await res.json()) as { action: { cancelRequested: boolean } }).action.cancelRequested,
      ).toBe(true);
      res = await fetch(`${base}/api/device/v1/actions/${action.id}/feedback`, {
        method: 'POST',
        headers: device(1),
        body: JSON.stringify({ reportId: randomUUID(), status: 'canceled' }),
      });
      expect(await json(res)).toMatchObject({ state: 'canceled' });
      res = await fetch(`${base}/api/device/v1/check-in`, {
        method: 'POST',
        headers: device(1),
        body: '{}',
      });
      expect(((await res.json()) as { action: unknown }).action).toBeNull();

      // Closed: now the release can go, and its payload blob with it (no other release uses it).
      res = await fetch(`${base}/api/v1/releases/${release.id}`, {
        method: 'DELETE',
        headers: { authorization: admin.authorization! },
      });
      expect(res.status).toBe(204);
      res = await fetch(`${base}/api/v1/releases/${release.id}`, { headers: admin });
      expect(res.status).toBe(404);
    });
  });
});
