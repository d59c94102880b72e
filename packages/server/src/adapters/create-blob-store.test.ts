import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Fleet, seedFleet, uploadRelease } from '../testing/release-fixtures.js';
import { startS3Server, type TestS3Server } from '../testing/s3-server.js';
import { describeEachDialect } from '../testing/test-database.js';
import { createTestServer, type TestServer } from '../testing/test-server.js';
import { S3BlobStore } from './s3/s3-blob-store.js';

// `blobs.store=s3` end to end through the service (downloads proxied: `downloads.direct=false`):
// a release's payload lands in the bucket and a device downloads it through the service; the
// bucket going away fails /readyz and uploads cleanly, and its return heals both.
describeEachDialect('the server with blobs.store=s3', (dialect) => {
  let s3: TestS3Server;
  let server: TestServer;
  let admin: Record<string, string>;
  let fleet: Fleet;

  beforeAll(async () => {
    s3 = await startS3Server();
    server = await createTestServer(dialect, {
      blobs: { store: 's3' },
      s3: { ...s3.config, prefix: 'srv/', timeoutMs: 2_000 },
      downloads: { direct: false },
    });
    admin = await server.adminHeaders();
    fleet = await seedFleet(server.app.updraft.db, { deviceCount: 1 });
  });
  afterAll(async () => {
    await server?.close();
    await s3?.dispose();
  });

  it('stores release payloads in the bucket and serves them to devices through the service', async () => {
    const payload = randomBytes(300_000);
    const releaseId = await uploadRelease(server.app, admin, fleet, 1, [payload]);
    // The payload is an object of the bucket (looked up there, not through the app).
    const bucket = new S3BlobStore({ settings: server.config.s3 });
    const digest = createHash('sha256').update(payload).digest('hex');
    expect(await bucket.head(digest)).toEqual({ digest, size: payload.length });
    await bucket.close();
    expect(server.app.updraft.objectStore).toBeDefined();

    const device = fleet.devices[0]!;
    const assigned = await server.app.inject({
      method: 'POST',
      url: '/api/v1/actions',
      headers: { ...admin, 'content-type': 'application/json' },
      payload: { deviceId: device.id, releaseId },
    });
    expect(assigned.statusCode).toBe(201);
    const checkIn = await server.app.inject({
      method: 'POST',
      url: '/api/device/v1/check-in',
      headers: { authorization: `Bearer ${device.token}`, 'content-type': 'application/json' },
      payload: {},
    });
    expect(checkIn.statusCode).toBe(200);
    const url = (checkIn.json().action as { payloads: { url: string }[] }).payloads[0]!.url;
    const whole = await server.app.inject({ method: 'GET', url });
    expect(whole.statusCode).toBe(200);
    expect(whole.rawPayload.equals(payload)).toBe(true);
    const ranged = await server.app.inject({
      method: 'GET',
      url,
      headers: { range: 'bytes=1000-1999' },
    });
    expect(ranged.statusCode).toBe(206);
    expect(ranged.rawPayload.equals(payload.subarray(1000, 2000))).toBe(true);
  });

  it('fails /readyz and release uploads while the bucket is down, and recovers when it is back', async () => {
    expect((await server.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    await s3.stop('SIGKILL');
    try {
      const ready = await server.app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      const before = await server.app.inject({
        method: 'GET',
        url: '/api/v1/releases',
        headers: admin,
      });
      const failed = await uploadRelease(server.app, admin, fleet, 2, [randomBytes(5000)]).then(
        () => 'uploaded',
        (error: Error) => error.message,
      );
      expect(failed).toMatch(/answered 503/);
      expect(failed).toContain('BLOB_STORE_UNAVAILABLE');
      const after = await server.app.inject({
        method: 'GET',
        url: '/api/v1/releases',
        headers: admin,
      });
      expect(after.json()).toEqual(before.json());
    } finally {
      await s3.start();
    }
    expect((await server.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    await uploadRelease(server.app, admin, fleet, 2, [randomBytes(5000)]);
  });
});
