import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BearerDeviceAuthenticator } from '../../auth/device-authenticator.js';
import type { DevicePrincipal } from '../../auth/principal.js';
import { SignedUrl } from '../../signed-url/signed-url.js';
import { type Fleet, seedFleet } from '../../testing/release-fixtures.js';
import {
  describeEachDialect,
  openTestDatabase,
  type TestDatabase,
} from '../../testing/test-database.js';
import { CheckInService } from './check-in.service.js';
import { LastSeenTracker } from './last-seen-tracker.js';

const REPORT = { components: [{ id: '814100', version: '1.0.0' }] };

describeEachDialect('CheckInService', (dialect) => {
  let t: TestDatabase;
  let fleet: Fleet;
  let service: CheckInService;
  const now = () => new Date('2026-01-01T00:00:00.000Z');
  beforeAll(async () => {
    t = await openTestDatabase(dialect);
    fleet = await seedFleet(t.handle.db, { deviceCount: 2 });
    service = new CheckInService(
      t.handle.db,
      new SignedUrl(randomBytes(32), 600),
      { idle: 300, active: 60 },
      new LastSeenTracker(t.handle.db, now, 60_000),
      now,
      t.handle.deviceChanges,
    );
  });
  afterAll(() => t?.dispose());

  const storedDigests = async (deviceId: string) =>
    (
      await t.handle.db
        .selectFrom('device_reports')
        .select('report_digest')
        .where('device_id', '=', deviceId)
        .execute()
    ).map((r) => r.report_digest);

  it('reads the state itself for a principal without prefetched state (another authenticator)', async () => {
    const dev = fleet.devices[0]!;
    const principal: DevicePrincipal = {
      kind: 'device',
      tenantId: fleet.tenantId,
      deviceId: dev.id,
      deviceClassId: fleet.deviceClassId,
      credentialId: dev.credentialId,
    };
    const first = await service.checkIn(principal, REPORT, undefined);
    expect(first).toMatchObject({ status: 200, body: { pollIntervalSeconds: 300, action: null } });
    expect(await storedDigests(dev.id)).toHaveLength(1);
    // Same report, its ETag: 304, and the stored digest (read by the service's own query) matched.
    const stored = await storedDigests(dev.id);
    expect(await service.checkIn(principal, REPORT, first.etag)).toEqual({
      status: 304,
      etag: first.etag,
    });
    expect(await storedDigests(dev.id)).toEqual(stored);
  });

  it('answers the same from state prefetched by the bearer authenticator', async () => {
    const dev = fleet.devices[1]!;
    const auth = new BearerDeviceAuthenticator(t.handle.db);
    const authenticate = async () =>
      (await auth.authenticate({ headers: { authorization: `Bearer ${dev.token}` } }))!;
    const first = await service.checkIn(await authenticate(), REPORT, undefined);
    expect(first.status).toBe(200);
    const stored = await storedDigests(dev.id);
    expect(await service.checkIn(await authenticate(), REPORT, first.etag)).toEqual({
      status: 304,
      etag: first.etag,
    });
    // A changed report is stored (the prefetched digest no longer matches).
    await service.checkIn(await authenticate(), { components: [] }, first.etag);
    expect(await storedDigests(dev.id)).not.toEqual(stored);
  });
});
