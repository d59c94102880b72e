import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runDeviceChangeFeedContract } from '../testing/device-change-feed.contract.js';
import { type Fleet, insertReleaseAndAction, seedFleet } from '../testing/release-fixtures.js';
import {
  describeEachDialect,
  openTestDatabase,
  TEST_POSTGRES_URL,
  type TestDatabase,
} from '../testing/test-database.js';
import { createDatabase, type DatabaseHandle } from './create-database.js';
import type { DeviceChange } from './device-changes.js';
import { BULK_NOTIFY_LIMIT, PostgresDeviceChangeFeed } from './device-changes.js';

// The port's contract, on each backend: a fresh handle's feed (not started) over a seeded database.
describeEachDialect('device change feed', (dialect) => {
  runDeviceChangeFeedContract(`${dialect} triggers`, {
    // PostgreSQL notifies on commit; SQLite's triggers call back from inside the statement.
    notifiesOnCommitOnly: dialect === 'postgres',
    create: async () => {
      const t = await openTestDatabase(dialect);
      const fleet = await seedFleet(t.handle.db, { deviceCount: 2 });
      // SQLite's triggers live on the connection that writes: write through the feed's handle.
      const handle = await createDatabase(t.config);
      const { db } = handle;
      const revoke = (deviceId: string) =>
        db
          .updateTable('device_tokens')
          .set({ revoked_at: new Date().toISOString() })
          .where('device_id', '=', deviceId)
          .execute();
      return {
        feed: handle.deviceChanges,
        devices: fleet.devices.map((d) => ({ tenantId: fleet.tenantId, deviceId: d.id })),
        commitChange: async (d) => {
          await revoke(d.deviceId);
        },
        commitQuietWrite: async (d) => {
          await db
            .updateTable('devices')
            .set({ last_seen_at: new Date().toISOString() })
            .where('id', '=', d.deviceId)
            .execute();
        },
        rollBackChange: async (d) => {
          await db
            .transaction()
            .execute(async (trx) => {
              await trx
                .updateTable('device_tokens')
                .set({ revoked_at: new Date().toISOString() })
                .where('device_id', '=', d.deviceId)
                .execute();
              throw new Error('roll back');
            })
            .catch(() => undefined);
        },
        dispose: async () => {
          await handle.close();
          await t.dispose();
        },
      };
    },
  });
});

// The database announces device changes itself (triggers), whichever code or SQL wrote them.
describeEachDialect('device change feed triggers', (dialect) => {
  let t: TestDatabase;
  let fleet: Fleet;
  const seen: DeviceChange[] = [];
  beforeAll(async () => {
    t = await openTestDatabase(dialect);
    fleet = await seedFleet(t.handle.db, { deviceCount: 3 });
    t.handle.deviceChanges.subscribe((c) => seen.push(c));
  });
  afterAll(() => t?.dispose());

  /** Runs `write`, waits until its notifications arrived, returns the changes it caused. */
  const changesOf = async (write: () => Promise<unknown>) => {
    await t.handle.deviceChanges.settled();
    seen.length = 0;
    await write();
    await t.handle.deviceChanges.settled();
    return [...seen];
  };
  const dev = (i: number) => ({ tenantId: fleet.tenantId, deviceId: fleet.devices[i]!.id });
  const at = () => new Date().toISOString();

  it('announces a revoked token, a decommission and a class change', async () => {
    const db = t.handle.db;
    expect(
      await changesOf(() =>
        db
          .updateTable('device_tokens')
          .set({ revoked_at: at() })
          .where('device_id', '=', fleet.devices[0]!.id)
          .execute(),
      ),
    ).toEqual([dev(0)]);
    expect(
      await changesOf(() =>
        db
          .updateTable('devices')
          .set({ decommissioned_at: at() })
          .where('id', '=', fleet.devices[1]!.id)
          .execute(),
      ),
    ).toEqual([dev(1)]);
  });

  it('announces an action opening and closing, and a new report digest', async () => {
    const db = t.handle.db;
    const deviceId = fleet.devices[2]!.id;
    expect(
      await changesOf(() =>
        insertReleaseAndAction(
          db,
          {
            tenantId: fleet.tenantId,
            deviceClassId: fleet.deviceClassId,
            deviceId,
            releaseId: 'rel_feed',
            actionId: 'act_feed',
          },
          { state: 'assigned', open: true },
        ),
      ),
    ).toEqual([dev(2)]);
    // Progress (open_key written but unchanged, as the service does): nothing a session holds.
    expect(
      await changesOf(() =>
        db
          .updateTable('actions')
          .set({ state: 'downloading', open_key: deviceId })
          .where('id', '=', 'act_feed')
          .execute(),
      ),
    ).toEqual([]);
    expect(
      await changesOf(() =>
        db
          .updateTable('actions')
          .set({ state: 'succeeded', open_key: null })
          .where('id', '=', 'act_feed')
          .execute(),
      ),
    ).toEqual([dev(2)]);
    const report = (digest: string) =>
      db
        .insertInto('device_reports')
        .values({
          device_id: deviceId,
          tenant_id: fleet.tenantId,
          report_digest: digest,
          updated_at: at(),
        })
        .onConflict((oc) => oc.column('device_id').doUpdateSet({ report_digest: digest }))
        .execute();
    expect(await changesOf(() => report('r1'))).toEqual([dev(2)]);
    expect(await changesOf(() => report('r2'))).toEqual([dev(2)]);
  });

  it('stays quiet for writes that do not change a session (last seen)', async () => {
    const db = t.handle.db;
    expect(
      await changesOf(async () => {
        await db
          .updateTable('devices')
          .set({ last_seen_at: at() })
          .where('tenant_id', '=', fleet.tenantId)
          .execute();
      }),
    ).toEqual([]);
  });

  // MQTT (migration 20261203143000): a rename moves the device's topic root; an admission or a
  // certificate state change makes the embedded broker check its open connection again.
  it('announces a rename, an admission change and a certificate state change', async () => {
    const db = t.handle.db;
    const deviceId = fleet.devices[2]!.id;
    expect(
      await changesOf(() =>
        db.updateTable('devices').set({ name: 'renamed' }).where('id', '=', deviceId).execute(),
      ),
    ).toEqual([dev(2)]);
    expect(
      await changesOf(() =>
        db
          .updateTable('devices')
          .set({ admission: 'rejected' })
          .where('id', '=', deviceId)
          .execute(),
      ),
    ).toEqual([dev(2)]);
    const row = {
      id: 'crt_feed',
      tenant_id: fleet.tenantId,
      device_id: deviceId,
      serial: '01',
      fingerprint: 'f'.repeat(64),
      spki_fingerprint: 'e'.repeat(64),
      certificate_pem: '-',
      not_before: at(),
      not_after: at(),
      issued_at: at(),
      issued_via: 'est-token',
      state: 'active',
      superseded_at: null,
      revoked_at: null,
      revocation_reason: null,
      revoked_by: null,
    };
    // Issuance alone changes no open connection: quiet.
    expect(
      await changesOf(() => db.insertInto('device_certificates').values(row).execute()),
    ).toEqual([]);
    expect(
      await changesOf(() =>
        db
          .updateTable('device_certificates')
          .set({ state: 'revoked', revoked_at: at() })
          .where('id', '=', 'crt_feed')
          .execute(),
      ),
    ).toEqual([dev(2)]);
  });

  it('one INSERT of many actions: each device up to the bulk limit; above it one `null` on PostgreSQL (per row on SQLite)', async () => {
    const db = t.handle.db;
    const own = await seedFleet(db, { deviceCount: 2 });
    const [d0, d1] = [own.devices[0]!.id, own.devices[1]!.id];
    await insertReleaseAndAction(
      db,
      {
        tenantId: own.tenantId,
        deviceClassId: own.deviceClassId,
        deviceId: d0,
        releaseId: 'rel_bulk',
        actionId: 'act_bulk_src',
      },
      { state: 'succeeded', open: false },
    );
    // `rows` closed actions in one statement, alternating between devices 1 and 0.
    const insertMany = (rows: number, prefix: string) =>
      sql`WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < ${rows})
        INSERT INTO actions (id, tenant_id, device_id, release_id, state, cancel_requested,
          download_only, action_type, revision, created_at, updated_at)
        SELECT CAST(${prefix} AS text) || CAST(s.n AS text), a.tenant_id,
          CASE WHEN s.n % 2 = 0 THEN CAST(${d0} AS text) ELSE CAST(${d1} AS text) END,
          a.release_id, a.state, 0, 0, a.action_type, 1, a.created_at, a.updated_at
        FROM s CROSS JOIN actions a WHERE a.id = 'act_bulk_src'`.execute(db);
    const few = await changesOf(() => insertMany(2, 'act_few_'));
    expect(few.map((c) => c?.deviceId).sort()).toEqual([d0, d1].sort());
    const many = await changesOf(() => insertMany(BULK_NOTIFY_LIMIT + 1, 'act_many_'));
    if (dialect === 'postgres') expect(many).toEqual([null]);
    else expect(many).toHaveLength(BULK_NOTIFY_LIMIT + 1);
  });
});

// Other connections' SQL, and (PostgreSQL) a lost LISTEN connection.
describeEachDialect('device change feed across connections', (dialect) => {
  let t: TestDatabase;
  let other: DatabaseHandle;
  let fleet: Fleet;
  beforeAll(async () => {
    t = await openTestDatabase(dialect);
    fleet = await seedFleet(t.handle.db, { deviceCount: 1 });
    // A second handle on the same database: another replica (SQLite: another connection).
    other = await createDatabase(t.config);
    await other.deviceChanges.start();
  });
  afterAll(async () => {
    await other?.close();
    await t?.dispose();
  });

  it('reaches every replica on PostgreSQL; on SQLite only the writing connection hears it', async () => {
    const heard: DeviceChange[] = [];
    const writerHeard: DeviceChange[] = [];
    t.handle.deviceChanges.subscribe((c) => heard.push(c));
    other.deviceChanges.subscribe((c) => writerHeard.push(c));
    await other.db
      .updateTable('device_tokens')
      .set({ revoked_at: new Date().toISOString() })
      .where('device_id', '=', fleet.devices[0]!.id)
      .execute();
    await other.deviceChanges.settled();
    await t.handle.deviceChanges.settled();
    const changed = { tenantId: fleet.tenantId, deviceId: fleet.devices[0]!.id };
    // What both backends guarantee: the writing process hears its own write.
    expect(writerHeard).toEqual([changed]);
    if (t.handle.support.supportsConcurrentWriters) expect(heard).toEqual([changed]);
    // SQLite is single-process by design (docs/configuration.md): another connection's writes
    // are not heard, and a cached session is bounded by device.sessionCacheMaxAgeSeconds instead.
    else expect(heard).toEqual([]);
  });

  // PostgreSQL only (SQLite's feed lives on the database connection itself).
  if (dialect === 'postgres')
    it('on PostgreSQL, goes not-live when its connection dies, tells listeners, and reconnects', async () => {
      const feed = t.handle.deviceChanges as PostgresDeviceChangeFeed;
      expect(feed).toBeInstanceOf(PostgresDeviceChangeFeed);
      const heard: DeviceChange[] = [];
      feed.subscribe((c) => heard.push(c));
      const pid = feed.listenerProcessId;
      expect(pid).toBeTypeOf('number');
      const admin = new pg.Client({ connectionString: TEST_POSTGRES_URL });
      await admin.connect();
      try {
        await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      } finally {
        await admin.end();
      }
      await expect.poll(() => heard.includes(null), { timeout: 5_000 }).toBe(true);
      await expect
        .poll(() => feed.live && feed.listenerProcessId !== pid, { timeout: 10_000 })
        .toBe(true);
      // Live again: a change is heard.
      heard.length = 0;
      await t.handle.db
        .updateTable('devices')
        .set({ decommissioned_at: new Date().toISOString() })
        .where('id', '=', fleet.devices[0]!.id)
        .execute();
      await feed.settled();
      expect(heard).toContainEqual({ tenantId: fleet.tenantId, deviceId: fleet.devices[0]!.id });
    });
});
