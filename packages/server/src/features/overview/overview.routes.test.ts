import { CompiledQuery, type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Database } from '../../db/database.js';
import { insertCampaign, insertCampaignRelease } from '../../testing/campaign-rows.js';
import { type Fleet, seedFleet } from '../../testing/release-fixtures.js';
import { describeEachDialect } from '../../testing/test-database.js';
import { createTestServer, type TestServer } from '../../testing/test-server.js';
import {
  deltaSavingsQuery,
  devicesByClassQuery,
  devicesByVersionQuery,
  failuresSinceQuery,
} from './overview.repository.js';

// Campaign rows are seeded as the engine would leave them: no engine steps in.
const IDLE_ENGINE = { start() {}, poke() {}, close: async () => {} };
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);
const ago = (minutes: number) => new Date(NOW.getTime() - minutes * 60_000).toISOString();

describeEachDialect('GET /api/v1/overview', (dialect) => {
  let server: TestServer;
  let db: Kysely<Database>;
  let a: Fleet;
  let b: Fleet;
  let c: Fleet;
  const campaigns: Record<string, string> = {};

  const get = async (headers: Record<string, string>) =>
    server.app.inject({ method: 'GET', url: '/api/v1/overview', headers });
  const as = async (roles: Parameters<TestServer['tokenFor']>[0]) => ({
    authorization: `Bearer ${(await server.tokenFor(roles)).token}`,
  });

  async function component(tenantId: string, deviceId: string, id: string, version: string) {
    await db
      .insertInto('device_components')
      .values({
        tenant_id: tenantId,
        device_id: deviceId,
        component_id: id,
        version,
        sequence_number: 1,
        digest: null,
        updated_at: NOW.toISOString(),
        version_key: null,
      })
      .execute();
  }
  async function seen(deviceId: string, at: string) {
    await db.updateTable('devices').set({ last_seen_at: at }).where('id', '=', deviceId).execute();
  }
  async function action(tenantId: string, deviceId: string, releaseId: string, id: string) {
    await db
      .insertInto('actions')
      .values({
        id,
        tenant_id: tenantId,
        device_id: deviceId,
        release_id: releaseId,
        state: 'failure',
        cancel_requested: 0,
        download_only: 0,
        action_type: 'soft',
        force_after: null,
        recurring_window: null,
        maintenance_window: null,
        open_key: null,
        revision: 1,
        created_at: ago(60 * 48),
        created_by: null,
        updated_at: ago(1),
      })
      .execute();
  }
  let eventNo = 0;
  async function event(
    actionId: string,
    status: string,
    minutesAgo: number,
    code: string | null,
    message: string | null = null,
  ) {
    eventNo += 1;
    await db
      .insertInto('action_events')
      .values({
        id: `evt_${String(eventNo).padStart(4, '0')}`,
        tenant_id: a.tenantId,
        action_id: actionId,
        at: ago(minutesAgo),
        source: 'device',
        status,
        progress: null,
        code,
        message,
        report_id: null,
        actor_id: null,
      })
      .execute();
  }
  async function target(
    campaignId: string,
    deviceId: string,
    status: string,
    code: string | null = null,
    updatedMinutesAgo = 1,
  ) {
    await db
      .insertInto('campaign_targets')
      .values({
        tenant_id: a.tenantId,
        campaign_id: campaignId,
        device_id: deviceId,
        rank: deviceId,
        phase: 0,
        action_id: null,
        status,
        code,
        joined_at: ago(60),
        healthy_after: null,
        silent_after: null,
        updated_at: ago(updatedMinutesAgo),
      })
      .execute();
  }

  beforeAll(async () => {
    server = await createTestServer(dialect, {}, { now: () => NOW, campaignEngine: IDLE_ENGINE });
    db = server.app.updraft.db;
    a = await seedFleet(db, { deviceCount: 6, className: 'alpha' });
    b = await seedFleet(db, { deviceCount: 2, className: 'beta' });
    c = await seedFleet(db, { deviceCount: 9, className: 'gamma' });
    const other = await seedFleet(db, { tenantId: 'ten_other', deviceCount: 3 });
    const [a0, a1, a2, a3, , a5] = a.devices.map((d) => d.id) as string[];
    const [b0] = b.devices.map((d) => d.id) as string[];
    // a5 is decommissioned: counted nowhere, though seen and versioned.
    await db
      .updateTable('devices')
      .set({ decommissioned_at: ago(5) })
      .where('id', '=', a5 as string)
      .execute();
    await seen(a5 as string, ago(1));
    await component(a.tenantId, a5 as string, '814100', '9.9.9');
    await seen(a0 as string, ago(10));
    await seen(a1 as string, ago(5 * 60));
    await seen(a2 as string, ago(2 * 24 * 60));
    await seen(b0 as string, ago(30));
    for (const d of other.devices) await seen(d.id, ago(1));
    await component(a.tenantId, a0 as string, '814100', '1.2.0');
    await component(a.tenantId, a1 as string, '814100', '1.2.0');
    await component(a.tenantId, a2 as string, '814100', '1.1.0');
    // Two components on one version: the device counts once under it.
    await component(a.tenantId, a3 as string, '814100', '1.1.0');
    await component(a.tenantId, a3 as string, '814101', '1.1.0');
    await component(b.tenantId, b0 as string, '814100', '1.2.0');
    for (const [i, d] of c.devices.entries())
      await component(c.tenantId, d.id, '814100', `3.0.${i}`);
    await component('ten_other', other.devices[0]?.id as string, '814100', '1.2.0');

    const release = await insertCampaignRelease(db, a.tenantId, a.deviceClassId, 5);
    const otherRelease = await insertCampaignRelease(db, 'ten_other', other.deviceClassId, 5);
    for (const [name, state] of [
      ['running', 'running'],
      ['paused', 'paused'],
      ['draft', 'draft'],
      ['rejected', 'draft'],
      ['approved', 'approved'],
      ['finished', 'finished'],
    ] as const)
      campaigns[name] = await insertCampaign(db, {
        tenantId: a.tenantId,
        releaseId: release,
        state,
        at: ago(100 - Object.keys(campaigns).length),
      });
    await db
      .updateTable('campaigns')
      .set({ review_decision: 'rejected' })
      .where('id', '=', campaigns.rejected as string)
      .execute();
    await db
      .updateTable('campaigns')
      .set({ state_reason: 'error-threshold' })
      .where('id', '=', campaigns.paused as string)
      .execute();
    await insertCampaign(db, { tenantId: 'ten_other', releaseId: otherRelease });
    const running = campaigns.running as string;
    await target(running, a0 as string, 'succeeded');
    await target(running, a1 as string, 'succeeded');
    await target(running, a2 as string, 'downloading');
    await target(running, a3 as string, 'failed', 'DEVICE_SILENT', 60);
    await target(campaigns.paused as string, a0 as string, 'failed', 'DEVICE_REVERTED', 30 * 60);
    await target(campaigns.paused as string, a1 as string, 'failed', 'AGENT_BOOT_REVERTED', 10);

    for (const n of [1, 2, 3, 4, 5, 6]) await action(a.tenantId, a0 as string, release, `act_${n}`);
    await event('act_1', 'failure', 60, 'AGENT_HEALTH_CHECK_FAILED', 'boot loop');
    await event('act_2', 'failure', 120, 'AGENT_HEALTH_CHECK_FAILED', 'health check timed out');
    await event('act_3', 'rejected', 180, 'MANIFEST_ROLLBACK');
    await event('act_4', 'failure', 25 * 60, 'AGENT_PAYLOAD_TRUNCATED');
    await event('act_5', 'failure', 10, null);
    await event('act_6', 'downloading', 5, null);
    // The target failed by AGENT_BOOT_REVERTED above: its action's report is what counts.
    await event('act_6', 'failure', 4, 'AGENT_BOOT_REVERTED');

    await action('ten_other', other.devices[0]?.id as string, otherRelease, 'act_other');
    for (const [actionId, tenantId, saved] of [
      ['act_1', a.tenantId, 1000],
      ['act_2', a.tenantId, 2500],
      ['act_other', 'ten_other', 7777],
    ] as const)
      await db
        .insertInto('delta_deliveries')
        .values({
          action_id: actionId,
          patch_digest: `patch-${actionId}`,
          tenant_id: tenantId,
          release_id: release,
          device_id: a0 as string,
          bytes_saved: saved,
          at: ago(5),
        })
        .execute();
  });
  afterAll(() => server?.close());

  it('counts the active fleet by class, online in the last hour and day', async () => {
    const res = await get(await server.adminHeaders());
    expect(res.statusCode).toBe(200);
    const { devices } = res.json();
    expect(devices).toMatchObject({ total: 16, onlineLastHour: 2, onlineLastDay: 3 });
    expect(devices.byClass).toEqual([
      {
        deviceClassId: c.deviceClassId,
        name: 'gamma',
        devices: 9,
        onlineLastHour: 0,
        onlineLastDay: 0,
      },
      {
        deviceClassId: a.deviceClassId,
        name: 'alpha',
        devices: 5,
        onlineLastHour: 1,
        onlineLastDay: 2,
      },
      {
        deviceClassId: b.deviceClassId,
        name: 'beta',
        devices: 2,
        onlineLastHour: 1,
        onlineLastDay: 1,
      },
    ]);
  });

  it('counts devices by class and installed version: the largest 8, the rest and the unreported', async () => {
    const { byVersion } = (await get(await server.adminHeaders())).json().devices;
    const v = (cls: Fleet, className: string, version: string, devices: number) => ({
      deviceClassId: cls.deviceClassId,
      className,
      version,
      devices,
    });
    expect(byVersion.items).toEqual([
      v(a, 'alpha', '1.1.0', 2),
      v(a, 'alpha', '1.2.0', 2),
      v(b, 'beta', '1.2.0', 1),
      ...[0, 1, 2, 3, 4].map((i) => v(c, 'gamma', `3.0.${i}`, 1)),
    ]);
    // gamma 3.0.5 … 3.0.8
    expect(byVersion.other).toBe(4);
    // alpha's a4 and beta's b1 report nothing.
    expect(byVersion.unreported).toBe(2);
  });

  it('lists the active campaigns (drafts awaiting approval included) with their progress', async () => {
    const { campaigns: active } = (await get(await server.adminHeaders())).json();
    expect(active.total).toBe(4);
    expect(active.items.map((x: { id: string }) => x.id)).toEqual([
      campaigns.approved,
      campaigns.draft,
      campaigns.paused,
      campaigns.running,
    ]);
    const running = active.items[3];
    expect(running).toMatchObject({
      name: `campaign ${campaigns.running}`,
      state: 'running',
      stateReason: null,
      releaseVersion: '1.5.0',
    });
    expect(running.totals).toMatchObject({
      targets: 4,
      succeeded: 2,
      downloading: 1,
      failed: 1,
      scheduled: 0,
    });
    expect(active.items[2]).toMatchObject({
      state: 'paused',
      stateReason: 'error-threshold',
      totals: { targets: 2, failed: 2 },
    });
    expect(active.items[0].totals.targets).toBe(0);
  });

  it('groups the failures of the last 24 h by code, health verdicts included', async () => {
    const { failures } = (await get(await server.adminHeaders())).json();
    expect(failures.since).toBe(ago(24 * 60));
    expect(failures.items).toEqual([
      { code: 'AGENT_HEALTH_CHECK_FAILED', count: 2, exampleMessage: 'health check timed out' },
      { code: 'AGENT_BOOT_REVERTED', count: 1, exampleMessage: null },
      { code: 'DEVICE_SILENT', count: 1, exampleMessage: null },
      { code: 'MANIFEST_ROLLBACK', count: 1, exampleMessage: null },
      { code: null, count: 1, exampleMessage: null },
    ]);
    expect(failures.total).toBe(6);
  });

  it('sums the bytes saved by completed delta downloads of the tenant', async () => {
    const { deltas } = (await get(await server.adminHeaders())).json();
    expect(deltas).toEqual({ downloads: 2, bytesSaved: 3500 });
  });

  it('leaves out what the roles may not read and refuses roles without devices:read', async () => {
    // support: devices, actions and releases, no campaigns.
    const support = (await get(await as(['support']))).json();
    expect(support.campaigns).toBeNull();
    expect(support.failures.total).toBe(6);
    expect(support.deltas.bytesSaved).toBe(3500);
    expect(support.devices.total).toBe(16);
    // repository-admin: devices and releases, neither campaigns nor actions.
    const repo = (await get(await as(['repository-admin']))).json();
    expect(repo).toMatchObject({ campaigns: null, failures: null });
    expect(repo.deltas.downloads).toBe(2);
    // rollout-admin: campaigns and actions.
    const rollout = (await get(await as(['rollout-admin']))).json();
    expect(rollout.campaigns.total).toBe(4);
    expect(rollout.failures.total).toBe(6);
    const none = await get(await as([]));
    expect(none.statusCode).toBe(403);
  });

  it('is answered from the overview indexes (EXPLAIN of its own statements)', async () => {
    const since = { hour: ago(60), day: ago(24 * 60) };
    const statements: [CompiledQuery, RegExp][] = [
      [devicesByClassQuery(db, a.tenantId, since).compile(), /devices_overview/],
      [devicesByVersionQuery(db, a.tenantId).compile(), /device_components_version/],
      [failuresSinceQuery(db, a.tenantId, since.day).compile(), /action_events_tenant_status_at/],
      [failuresSinceQuery(db, a.tenantId, since.day).compile(), /campaign_targets_(code|waiting)/],
      [deltaSavingsQuery(db, a.tenantId).compile(), /delta_deliveries_saved/],
    ];
    // SQLite's plan follows the schema: each statement names its index. PostgreSQL picks by
    // statistics (these tiny tables would be read whole), so there the check is that with
    // sequential scans priced out no table of the fleet's size is read whole.
    await db.connection().execute(async (conn) => {
      if (dialect === 'postgres') await sql`SET enable_seqscan = off`.execute(conn);
      try {
        for (const [query, index] of statements) {
          const explain = dialect === 'sqlite' ? 'EXPLAIN QUERY PLAN ' : 'EXPLAIN ';
          const plan = await conn.executeQuery<Record<string, unknown>>(
            CompiledQuery.raw(explain + query.sql, [...query.parameters]),
          );
          const text = plan.rows.map((r) => Object.values(r).join(' ')).join('\n');
          if (dialect === 'sqlite') {
            expect(text, query.sql).toMatch(index);
            expect(text, query.sql).not.toMatch(/SCAN (d|dc|e|t|delta_deliveries)$/m);
          } else {
            expect(text, query.sql).toMatch(/Index (Only )?Scan/);
            expect(text, query.sql).not.toMatch(
              /Seq Scan on (devices|device_components|action_events|campaign_targets|delta_deliveries)/,
            );
          }
        }
      } finally {
        if (dialect === 'postgres') await sql`RESET enable_seqscan`.execute(conn);
      }
    });
  });
});
