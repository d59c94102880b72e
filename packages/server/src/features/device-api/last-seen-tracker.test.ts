import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Fleet, seedFleet } from '../../testing/release-fixtures.js';
import {
  describeEachDialect,
  openTestDatabase,
  type TestDatabase,
} from '../../testing/test-database.js';
import { touchLastSeen } from '../devices/device.repository.js';
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

// Last-seen writes run for every polling device once per flush: they must stay cheap in-place
// updates (PostgreSQL HOT), which no index on the column allows (migration 20261204050000).
describeEachDialect('last-seen writes', (dialect) => {
  let t: TestDatabase;
  let fleet: Fleet;
  beforeAll(async () => {
    t = await openTestDatabase(dialect);
    fleet = await seedFleet(t.handle.db, { deviceCount: 20 });
  });
  afterAll(() => t?.dispose());

  it('keeps devices.last_seen_at out of every index of the table', async () => {
    const columns =
      dialect === 'sqlite'
        ? (
            await sql<{ name: string }>`
              SELECT ii.name FROM sqlite_master m, pragma_index_info(m.name) ii
              WHERE m.type = 'index' AND m.tbl_name = 'devices'`.execute(t.handle.db)
          ).rows.map((r) => r.name)
        : (
            await sql<{ name: string }>`
              SELECT a.attname AS name FROM pg_index i
              JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
              WHERE i.indrelid = 'devices'::regclass`.execute(t.handle.db)
          ).rows.map((r) => r.name);
    expect(columns).toContain('tenant_id');
    expect(columns).not.toContain('last_seen_at');
  });

  // PostgreSQL only (SQLite has no such distinction): registered there, not skipped here.
  if (dialect === 'postgres')
    it('are heap-only (HOT) updates on PostgreSQL: the index entries stay as they were', async () => {
      const ids = fleet.devices.map((d) => d.id);
      // Transaction-local statistics are exact at once (the shared ones lag).
      const hot = await t.handle.db.transaction().execute(async (trx) => {
        await touchLastSeen(trx, fleet.tenantId, ids, '2026-01-02T00:00:00.000Z');
        const { rows } = await sql<{ updated: string; hot: string }>`
          SELECT n_tup_upd AS updated, n_tup_hot_upd AS hot FROM pg_stat_xact_user_tables
          WHERE relid = 'devices'::regclass`.execute(trx);
        return rows[0]!;
      });
      expect(Number(hot.updated)).toBe(ids.length);
      expect(Number(hot.hot)).toBe(ids.length);
    });
});
