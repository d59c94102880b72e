import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Fleet, seedFleet } from '../../testing/release-fixtures.js';
import {
  describeEachDialect,
  openTestDatabase,
  type TestDatabase,
} from '../../testing/test-database.js';
import { LastSeenTracker } from './last-seen-tracker.js';

describeEachDialect('LastSeenTracker', (dialect) => {
  let t: TestDatabase;
  let fleet: Fleet;
  beforeAll(async () => {
    t = await openTestDatabase(dialect);
    fleet = await seedFleet(t.handle.db, { deviceCount: 3 });
  });
  afterAll(() => t?.dispose());

  const lastSeen = async () =>
    Object.fromEntries(
      (await t.handle.db.selectFrom('devices').select(['id', 'last_seen_at']).execute()).map(
        (r) => [r.id, r.last_seen_at],
      ),
    );

  it('writes nothing until it flushes, then every device seen in one batch', async () => {
    let now = new Date('2026-01-01T00:00:00.000Z');
    const tracker = new LastSeenTracker(t.handle.db, () => now, 60_000);
    tracker.touch(fleet.tenantId, fleet.devices[0]!.id);
    tracker.touch(fleet.tenantId, fleet.devices[0]!.id);
    tracker.touch(fleet.tenantId, fleet.devices[1]!.id);
    expect(Object.values(await lastSeen()).every((v) => v === null)).toBe(true);
    await tracker.flush();
    expect(await lastSeen()).toEqual({
      [fleet.devices[0]!.id]: '2026-01-01T00:00:00.000Z',
      [fleet.devices[1]!.id]: '2026-01-01T00:00:00.000Z',
      [fleet.devices[2]!.id]: null,
    });
    now = new Date('2026-01-01T00:05:00.000Z');
    tracker.touch(fleet.tenantId, fleet.devices[2]!.id);
    // Another tenant's id never touches this tenant's rows.
    tracker.touch('ten_other', fleet.devices[0]!.id);
    await tracker.close();
    expect(await lastSeen()).toMatchObject({
      [fleet.devices[0]!.id]: '2026-01-01T00:00:00.000Z',
      [fleet.devices[2]!.id]: '2026-01-01T00:05:00.000Z',
    });
  });
});
