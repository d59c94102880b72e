import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Fleet, seedFleet } from '../testing/release-fixtures.js';
import {
  describeEachDialect,
  openTestDatabase,
  type TestDatabase,
} from '../testing/test-database.js';
import { BearerDeviceAuthenticator, prefetchedCheckInState } from './device-authenticator.js';

describeEachDialect('BearerDeviceAuthenticator', (dialect) => {
  let t: TestDatabase;
  let fleet: Fleet;
  let auth: BearerDeviceAuthenticator;
  beforeAll(async () => {
    t = await openTestDatabase(dialect);
    fleet = await seedFleet(t.handle.db, { deviceCount: 2 });
    auth = new BearerDeviceAuthenticator(t.handle.db);
  });
  afterAll(() => t?.dispose());

  const authenticate = (token: string) =>
    auth.authenticate({ headers: { authorization: `Bearer ${token}` } });

  it('reads the check-in state with the credential: last report digest, open action and name', async () => {
    const [dev] = fleet.devices;
    const before = await authenticate(dev!.token);
    expect(before).toEqual({
      kind: 'device',
      tenantId: fleet.tenantId,
      deviceId: dev!.id,
      deviceClassId: fleet.deviceClassId,
      credentialId: dev!.credentialId,
    });
    // seedFleet names each device by its id.
    expect(prefetchedCheckInState(before!)).toEqual({
      reportDigest: null,
      actionId: null,
      deviceName: dev!.id,
    });

    await t.handle.db
      .insertInto('device_reports')
      .values({
        device_id: dev!.id,
        tenant_id: fleet.tenantId,
        report_digest: 'digest-1',
        updated_at: '2026-01-01T00:00:00.000Z',
      })
      .execute();
    const after = await authenticate(dev!.token);
    expect(prefetchedCheckInState(after!)).toEqual({
      reportDigest: 'digest-1',
      actionId: null,
      deviceName: dev!.id,
    });
    // Another device's state is its own.
    const other = await authenticate(fleet.devices[1]!.token);
    expect(prefetchedCheckInState(other!)).toEqual({
      reportDigest: null,
      actionId: null,
      deviceName: fleet.devices[1]!.id,
    });
  });

  it('refuses a revoked token on the very next request (no cache)', async () => {
    const dev = fleet.devices[1]!;
    expect(await authenticate(dev.token)).not.toBeNull();
    await t.handle.db
      .updateTable('device_tokens')
      .set({ revoked_at: '2026-01-01T00:00:00.000Z' })
      .where('device_id', '=', dev.id)
      .execute();
    expect(await authenticate(dev.token)).toBeNull();
  });
});
