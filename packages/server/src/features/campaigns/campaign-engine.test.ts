import { createHash, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import type { FeedbackStatus } from '@updraft/core';
import type { Kysely } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/database.js';
import {
  APP_COMPONENT,
  insertCampaign,
  insertCampaignRelease,
  type PhaseSpec,
  setInstalled,
} from '../../testing/campaign-rows.js';
import { type Fleet, seedFleet } from '../../testing/release-fixtures.js';
import {
  describeEachDialect,
  openTestDatabase,
  type TestDatabase,
} from '../../testing/test-database.js';
import { ActionService } from '../actions/action.service.js';
import { DeviceFilterService } from '../filters/device-filter.service.js';
import { WebhookOutbox } from '../webhooks/webhook-outbox.js';
import { CampaignEngine } from './campaign-engine.js';
import { campaignCounts } from './campaign-stats.repository.js';

const TENANT = 'ten_default';
const CTX = { tenantId: TENANT, actorId: null, ip: null, requestId: null };

describeEachDialect('campaign engine', (dialect) => {
  let tdb: TestDatabase;
  let db: Kysely<Database>;
  let clock = new Date('2026-12-03T12:00:00.000Z');
  const now = () => clock;
  const advance = (seconds: number) => {
    clock = new Date(clock.getTime() + seconds * 1000);
  };
  const logLines: string[] = [];
  let engine: CampaignEngine;
  /** Reports without poking the engine: the tests step it themselves. */
  let actions: ActionService;

  const newEngine = (database: Kysely<Database>, support = tdb.handle.support) =>
    new CampaignEngine({
      db: database,
      support,
      now,
      logger: pino(
        { level: 'warn' },
        new Writable({
          write(chunk, _enc, done) {
            logLines.push(String(chunk));
            done();
          },
        }),
      ),
      events: new WebhookOutbox(now),
      filters: new DeviceFilterService(database, now),
      tickSeconds: 3600,
      pokeDelayMs: 5,
    });

  beforeAll(async () => {
    tdb = await openTestDatabase(dialect);
    db = tdb.handle.db;
    engine = newEngine(db);
    actions = new ActionService(db, now, tdb.handle.deviceChanges, new WebhookOutbox(now));
  });
  afterAll(async () => {
    await engine?.close();
    await tdb?.dispose();
  });

  const ids = (fleet: Fleet) => fleet.devices.map((d) => d.id);
  const campaignOf = (id: string) =>
    db.selectFrom('campaigns').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  const phasesOf = (id: string) =>
    db
      .selectFrom('campaign_phases')
      .selectAll()
      .where('campaign_id', '=', id)
      .orderBy('idx')
      .execute();
  const targetsOf = async (id: string) =>
    new Map(
      (
        await db.selectFrom('campaign_targets').selectAll().where('campaign_id', '=', id).execute()
      ).map((t) => [t.device_id, { ...t, phase: t.phase === null ? null : Number(t.phase) }]),
    );
  const actionsOf = (id: string) =>
    db
      .selectFrom('actions')
      .selectAll()
      .where('campaign_id', '=', id)
      .orderBy('device_id')
      .execute();
  const eventTypes = async (id: string) =>
    (
      await db
        .selectFrom('campaign_events')
        .select(['type', 'data'])
        .where('campaign_id', '=', id)
        .orderBy('id')
        .execute()
    ).map((e) => `${e.type} ${e.data}`);
  const report = (deviceId: string, actionId: string, status: FeedbackStatus, code?: string) =>
    actions.report({ tenantId: TENANT, deviceId }, actionId, {
      reportId: randomUUID(),
      status,
      progress: null,
      code: code ?? null,
      message: null,
    });
  const succeed = async (deviceId: string, actionId: string, via = actions) => {
    for (const status of ['downloaded', 'installing', 'success'] as const)
      await via.report({ tenantId: TENANT, deviceId }, actionId, {
        reportId: randomUUID(),
        status,
        progress: null,
        code: null,
        message: null,
      });
  };
  /** Every table the engine writes, for "a second step changes nothing". */
  const snapshot = async (id: string) => ({
    campaign: await campaignOf(id),
    phases: await phasesOf(id),
    targets: [...(await targetsOf(id)).values()].sort((a, b) =>
      a.device_id.localeCompare(b.device_id),
    ),
    actions: await actionsOf(id),
    actionEvents: await db
      .selectFrom('action_events')
      .select(['id', 'action_id', 'status'])
      .where('action_id', 'in', (await actionsOf(id)).map((a) => a.id).concat(['-']))
      .orderBy('id')
      .execute(),
    events: await eventTypes(id),
    samples: await db
      .selectFrom('campaign_samples')
      .selectAll()
      .where('campaign_id', '=', id)
      .execute(),
  });
  const campaignWith = async (
    fleet: Fleet,
    sequenceNumber: number,
    options: Omit<Parameters<typeof insertCampaign>[1], 'tenantId' | 'releaseId'> & {
      phases?: readonly PhaseSpec[];
    } = {},
  ) => {
    const releaseId = await insertCampaignRelease(db, TENANT, fleet.deviceClassId, sequenceNumber);
    const id = await insertCampaign(db, { tenantId: TENANT, releaseId, ...options });
    return { id, releaseId };
  };

  describe('fan-out', () => {
    it('targets the class’s devices that need the release, one action each, derived ids and events', async () => {
      const fleet = await seedFleet(db, { deviceCount: 10 });
      const other = await seedFleet(db, { deviceCount: 1 });
      const d = ids(fleet);
      await setInstalled(db, TENANT, d[0]!, 5); // runs the release
      await setInstalled(db, TENANT, d[1]!, 7); // runs something newer
      await setInstalled(db, TENANT, d[2]!, 3); // older: needs it
      await db
        .updateTable('devices')
        .set({ decommissioned_at: clock.toISOString() })
        .where('id', '=', d[3]!)
        .execute();
      const { id, releaseId } = await campaignWith(fleet, 5, {
        actionType: 'time-forced',
        forceAfter: '2027-01-01T00:00:00.000Z',
        recurringWindow: JSON.stringify({
          cron: '0 2 * * *',
          durationSeconds: 7200,
          timeZone: 'UTC',
        }),
      });

      expect(await engine.step(id)).toBe('stepped');

      const targets = await targetsOf(id);
      expect([...targets.keys()].sort()).toEqual(
        d
          .slice(2)
          .filter((x) => x !== d[3])
          .sort(),
      );
      expect(targets.has(other.devices[0]!.id)).toBe(false);
      const made = await actionsOf(id);
      expect(made.map((a) => a.device_id).sort()).toEqual([...targets.keys()].sort());
      for (const a of made) {
        const rank = createHash('md5').update(`${id}:${a.device_id}`).digest('hex');
        expect(a).toMatchObject({
          id: `act_${id.slice(4)}_${a.device_id}`,
          release_id: releaseId,
          state: 'assigned',
          open_key: a.device_id,
          action_type: 'time-forced',
          force_after: '2027-01-01T00:00:00.000Z',
          download_only: 0,
          created_at: clock.toISOString(),
        });
        expect(JSON.parse(a.recurring_window!)).toMatchObject({ cron: '0 2 * * *' });
        expect(Number(a.revision)).toBe(1);
        expect(targets.get(a.device_id)).toMatchObject({
          status: 'pending',
          action_id: a.id,
          rank,
          phase: 0,
        });
      }
      const events = await db
        .selectFrom('action_events')
        .select(['id', 'action_id', 'status', 'source'])
        .where(
          'action_id',
          'in',
          made.map((a) => a.id),
        )
        .execute();
      expect(events).toHaveLength(made.length);
      expect(new Set(events.map((e) => e.action_id)).size).toBe(made.length);
      for (const e of events) {
        expect(e).toMatchObject({ status: 'assigned', source: 'server' });
        expect(e.id).toMatch(/^evt_20261203120000000_[0-9a-f]{16}$/);
      }
      expect(await eventTypes(id)).toEqual(['phase_started {"phase":0}']);
      expect(Number((await campaignOf(id)).current_phase)).toBe(0);
    });

    it('is idempotent: a second step with nothing new changes nothing', async () => {
      const fleet = await seedFleet(db, { deviceCount: 6 });
      const { id } = await campaignWith(fleet, 5, { phases: [{ percent: 50 }, { percent: 100 }] });
      await engine.step(id);
      const before = await snapshot(id);
      expect(before.actions).toHaveLength(3);
      expect(before.samples).toHaveLength(1);
      // The step's totals (kept up to date in memory after its own moves) are the table's.
      expect(JSON.parse(before.samples[0]!.counts)).toEqual((await campaignCounts(db, id)).totals);
      await engine.step(id);
      expect(await snapshot(id)).toEqual(before);
    });

    it('a device with an open action elsewhere waits, then gets its action once that closes; one that got the release meanwhile is skipped', async () => {
      const fleet = await seedFleet(db, { deviceCount: 4 });
      const d = ids(fleet);
      const manualRelease = await insertCampaignRelease(db, TENANT, fleet.deviceClassId, 4);
      const m0 = await actions.assign(CTX, { deviceId: d[0]!, releaseId: manualRelease });
      const m1 = await actions.assign(CTX, { deviceId: d[1]!, releaseId: manualRelease });
      const { id } = await campaignWith(fleet, 5);

      await engine.step(id);
      let targets = await targetsOf(id);
      expect(targets.get(d[0]!)).toMatchObject({ status: 'scheduled', action_id: null });
      expect(targets.get(d[1]!)).toMatchObject({ status: 'scheduled', action_id: null });
      expect((await actionsOf(id)).map((a) => a.device_id).sort()).toEqual(d.slice(2).sort());

      // Both manual actions close; device 1 meanwhile got to a newer release some other way.
      await report(d[0]!, m0.id, 'failure', 'E');
      await report(d[1]!, m1.id, 'failure', 'E');
      await setInstalled(db, TENANT, d[1]!, 6);
      advance(5);
      await engine.step(id);
      targets = await targetsOf(id);
      expect(targets.get(d[0]!)).toMatchObject({ status: 'pending' });
      expect(targets.get(d[1]!)).toMatchObject({
        status: 'skipped',
        code: 'ALREADY_UP_TO_DATE',
        action_id: null,
      });
      const made = await actionsOf(id);
      expect(made.map((a) => a.device_id).sort()).toEqual([d[0]!, ...d.slice(2)].sort());
      // Still one action per device of the fleet across the campaign and by hand.
      const open = await db
        .selectFrom('actions')
        .select('device_id')
        .where('device_id', 'in', d)
        .where('open_key', 'is not', null)
        .execute();
      expect(open.map((a) => a.device_id).sort()).toEqual([d[0]!, ...d.slice(2)].sort());
    });

    it('a waiting device that was decommissioned or moved to another class is skipped with its reason', async () => {
      const fleet = await seedFleet(db, { deviceCount: 2 });
      const other = await seedFleet(db, { deviceCount: 0 });
      const d = ids(fleet);
      const manualRelease = await insertCampaignRelease(db, TENANT, fleet.deviceClassId, 4);
      for (const device of d)
        await actions.assign(CTX, { deviceId: device, releaseId: manualRelease });
      const { id } = await campaignWith(fleet, 5);
      await engine.step(id);
      await db
        .updateTable('devices')
        .set({ decommissioned_at: clock.toISOString() })
        .where('id', '=', d[0]!)
        .execute();
      await db
        .updateTable('devices')
        .set({ device_class_id: other.deviceClassId })
        .where('id', '=', d[1]!)
        .execute();
      await engine.step(id);
      const targets = await targetsOf(id);
      expect(targets.get(d[0]!)).toMatchObject({
        status: 'skipped',
        code: 'DEVICE_DECOMMISSIONED',
      });
      expect(targets.get(d[1]!)).toMatchObject({ status: 'skipped', code: 'DEVICE_CLASS_CHANGED' });
      expect(await actionsOf(id)).toHaveLength(0);
    });

    it('the campaign that gave an action first wins the device', async () => {
      const fleet = await seedFleet(db, { deviceCount: 3 });
      const first = await campaignWith(fleet, 5);
      const second = await campaignWith(fleet, 6);
      await engine.step(first.id);
      await engine.step(second.id);
      expect(await actionsOf(first.id)).toHaveLength(3);
      expect(await actionsOf(second.id)).toHaveLength(0);
      expect([...(await targetsOf(second.id)).values()].map((t) => t.status)).toEqual([
        'scheduled',
        'scheduled',
        'scheduled',
      ]);
    });

    it('a continuous campaign admits a device registered after it started; a one-shot does not', async () => {
      const fleet = await seedFleet(db, { deviceCount: 2 });
      const continuous = await campaignWith(fleet, 5, { type: 'continuous' });
      const oneShot = await campaignWith(fleet, 6);
      await engine.step(continuous.id);
      await engine.step(oneShot.id);
      const late = await seedFleet(db, { deviceCount: 0 }).then(async () => {
        const { addDevice } = await import('../../testing/release-fixtures.js');
        return addDevice(db, TENANT, fleet.deviceClassId);
      });
      advance(5);
      await engine.step(continuous.id);
      await engine.step(oneShot.id);
      expect((await targetsOf(continuous.id)).get(late.id)).toMatchObject({
        status: 'pending',
        phase: 0,
      });
      expect((await targetsOf(oneShot.id)).has(late.id)).toBe(false);
    });

    it('phases take targets in rank order, a phase filter narrows its take', async () => {
      const fleet = await seedFleet(db, { deviceCount: 10 });
      const d = ids(fleet);
      for (const [i, device] of d.entries())
        await db
          .insertInto('device_attributes')
          .values({
            tenant_id: TENANT,
            device_id: device,
            name: 'region',
            type: 'string',
            value: i < 4 ? 'eu' : 'us',
            source: 'custom',
          })
          .execute();
      const { id } = await campaignWith(fleet, 5, {
        phases: [{ percent: 20, filter: 'device.attributes.region == "eu"' }, { percent: 100 }],
      });
      await engine.step(id);
      const targets = [...(await targetsOf(id)).values()];
      const phase0 = targets.filter((t) => t.phase === 0);
      expect(phase0).toHaveLength(2);
      const eu = targets
        .filter((t) => d.indexOf(t.device_id) < 4)
        .sort((a, b) => a.rank.localeCompare(b.rank));
      expect(phase0.map((t) => t.device_id).sort()).toEqual(
        eu
          .slice(0, 2)
          .map((t) => t.device_id)
          .sort(),
      );
      expect(targets.filter((t) => t.phase === null)).toHaveLength(8);
      expect(await actionsOf(id)).toHaveLength(2);
    });
  });

  describe('fan-out in batches', () => {
    const batched = (fanOutBatch: number) =>
      new CampaignEngine({
        db,
        support: tdb.handle.support,
        now,
        logger: pino({ level: 'silent' }),
        events: new WebhookOutbox(now),
        filters: new DeviceFilterService(db, now),
        tickSeconds: 3600,
        pokeDelayMs: 5,
        fanOutBatch,
      });

    it('a batch of 7 over 20 devices: several steps of at most 7 actions each, one action per device, devices with an open action elsewhere wait', async () => {
      const fleet = await seedFleet(db, { deviceCount: 20 });
      const d = ids(fleet);
      const manualRelease = await insertCampaignRelease(db, TENANT, fleet.deviceClassId, 4);
      await actions.assign(CTX, { deviceId: d[3]!, releaseId: manualRelease });
      await actions.assign(CTX, { deviceId: d[11]!, releaseId: manualRelease });
      const { id } = await campaignWith(fleet, 5);
      const stepper = batched(7);
      const given: number[] = [];
      let outcome: string;
      let before = 0;
      do {
        outcome = await stepper.step(id);
        const now = (await actionsOf(id)).length;
        given.push(now - before);
        before = now;
      } while (outcome === 'more' && given.length < 10);
      expect(outcome).toBe('stepped');
      expect(given.length).toBeGreaterThanOrEqual(3);
      for (const n of given) expect(n).toBeLessThanOrEqual(7);
      const made = await actionsOf(id);
      expect(made.map((a) => a.device_id).sort()).toEqual(
        d.filter((x) => x !== d[3] && x !== d[11]).sort(),
      );
      const events = await db
        .selectFrom('action_events')
        .select('action_id')
        .where(
          'action_id',
          'in',
          made.map((a) => a.id),
        )
        .execute();
      expect(events.map((e) => e.action_id).sort()).toEqual(made.map((a) => a.id).sort());
      const targets = await targetsOf(id);
      expect(targets.get(d[3]!)).toMatchObject({ status: 'scheduled', action_id: null });
      expect([...targets.values()].filter((t) => t.status === 'pending')).toHaveLength(18);
      await stepper.close();
    });

    it('a poke runs the remaining batches by itself (no tick); a report on an action of an earlier batch stands', async () => {
      const fleet = await seedFleet(db, { deviceCount: 20 });
      const { id } = await campaignWith(fleet, 5);
      const stepper = batched(7);
      expect(await stepper.step(id)).toBe('more');
      const [first] = await actionsOf(id);
      stepper.poke(TENANT, id);
      await report(first!.device_id, first!.id, 'downloading');
      await expect.poll(async () => (await actionsOf(id)).length).toBe(20);
      expect((await actionsOf(id)).find((a) => a.id === first!.id)?.state).toBe('downloading');
      await stepper.close();
    });

    it('a phase larger than a batch takes its targets over several steps, in rank order', async () => {
      const fleet = await seedFleet(db, { deviceCount: 20 });
      const { id } = await campaignWith(fleet, 5, { phases: [{ count: 10 }, { percent: 100 }] });
      const stepper = batched(4);
      const outcomes: string[] = [];
      for (let i = 0; i < 6; i++) outcomes.push(await stepper.step(id));
      expect(outcomes.slice(0, 2)).toEqual(['more', 'more']);
      const targets = [...(await targetsOf(id)).values()];
      const phase0 = targets.filter((t) => t.phase === 0);
      expect(phase0).toHaveLength(10);
      const byRank = targets.map((t) => t.rank).sort();
      expect(phase0.map((t) => t.rank).sort()).toEqual(byRank.slice(0, 10));
      expect((await actionsOf(id)).map((a) => a.device_id).sort()).toEqual(
        phase0.map((t) => t.device_id).sort(),
      );
      expect(targets.filter((t) => t.phase === null)).toHaveLength(10);
      await stepper.close();
    });
  });

  describe('phases and thresholds', () => {
    it('the error threshold pauses the campaign; later phases get no actions', async () => {
      const fleet = await seedFleet(db, { deviceCount: 20 });
      const { id } = await campaignWith(fleet, 5, {
        phases: [{ percent: 10, errorCount: 1 }, { percent: 100 }],
      });
      await engine.step(id);
      const made = await actionsOf(id);
      expect(made).toHaveLength(2);
      await report(made[0]!.device_id, made[0]!.id, 'failure', 'TRIAL_BOOT_FAILED');
      expect((await targetsOf(id)).get(made[0]!.device_id)).toMatchObject({
        status: 'failed',
        code: 'TRIAL_BOOT_FAILED',
      });
      await succeed(made[1]!.device_id, made[1]!.id);
      advance(5);
      await engine.step(id);

      expect(await campaignOf(id)).toMatchObject({
        state: 'paused',
        state_reason: 'error-threshold',
      });
      expect((await phasesOf(id)).map((p) => p.state)).toEqual(['paused', 'pending']);
      expect(await eventTypes(id)).toEqual([
        'phase_started {"phase":0}',
        'state_changed {"from":"running","to":"paused","reason":"error-threshold"}',
        'phase_paused {"phase":0,"reason":"error-threshold"}',
      ]);
      advance(5);
      await engine.step(id);
      await engine.tick();
      expect(await actionsOf(id)).toHaveLength(2);

      // Resumed as the API does it: the failure is acknowledged, the phase runs again and passes.
      await db
        .updateTable('campaign_phases')
        .set({ state: 'running', errors_acknowledged: 1 })
        .where('campaign_id', '=', id)
        .where('idx', '=', 0)
        .execute();
      await db
        .updateTable('campaigns')
        .set({ state: 'running', state_reason: null })
        .where('id', '=', id)
        .execute();
      // 1 of 2 succeeded is below 95 %: the phase waits, no further pause.
      await engine.step(id);
      expect((await campaignOf(id)).state).toBe('running');
      expect(await actionsOf(id)).toHaveLength(2);
    });

    it('success advances to the next phase at once through the report’s poke', async () => {
      const fleet = await seedFleet(db, { deviceCount: 10 });
      const poking = new ActionService(
        db,
        now,
        tdb.handle.deviceChanges,
        new WebhookOutbox(now),
        engine,
      );
      const { id } = await campaignWith(fleet, 5, {
        phases: [{ percent: 20 }, { percent: 100 }],
      });
      await engine.step(id);
      const made = await actionsOf(id);
      expect(made).toHaveLength(2);
      for (const a of made) await succeed(a.device_id, a.id, poking);
      await expect.poll(async () => (await actionsOf(id)).length).toBe(10);
      expect((await phasesOf(id)).map((p) => p.state)).toEqual(['passed', 'running']);
      expect(Number((await campaignOf(id)).current_phase)).toBe(1);
      expect(await eventTypes(id)).toEqual([
        'phase_started {"phase":0}',
        'phase_advanced {"phase":0,"next":1}',
      ]);
    });

    it('a manual gate pauses after the phase passed; resuming starts the next phase', async () => {
      const fleet = await seedFleet(db, { deviceCount: 4 });
      const { id } = await campaignWith(fleet, 5, {
        phases: [{ count: 1, manualGate: true }, { percent: 100 }],
      });
      await engine.step(id);
      const [first] = await actionsOf(id);
      await succeed(first!.device_id, first!.id);
      await engine.step(id);
      expect(await campaignOf(id)).toMatchObject({ state: 'paused', state_reason: 'manual-gate' });
      expect((await phasesOf(id)).map((p) => p.state)).toEqual(['passed', 'pending']);
      await engine.step(id);
      expect(await actionsOf(id)).toHaveLength(1);

      await db
        .updateTable('campaigns')
        .set({ state: 'running', state_reason: null })
        .where('id', '=', id)
        .execute();
      await engine.step(id);
      expect(await actionsOf(id)).toHaveLength(4);
      expect(await eventTypes(id)).toEqual([
        'phase_started {"phase":0}',
        'state_changed {"from":"running","to":"paused","reason":"manual-gate"}',
        'phase_advanced {"phase":0,"next":1}',
      ]);
    });

    it('a one-shot campaign finishes once its last phase passed and nothing is open', async () => {
      const fleet = await seedFleet(db, { deviceCount: 3 });
      const { id } = await campaignWith(fleet, 5, {
        phases: [{ count: 1 }, { percent: 100, successThreshold: 50 }],
      });
      await engine.step(id);
      const [first] = await actionsOf(id);
      await succeed(first!.device_id, first!.id);
      await engine.step(id);
      const all = await actionsOf(id);
      expect(all).toHaveLength(3);
      const rest = all.filter((a) => a.id !== first!.id);
      await succeed(rest[0]!.device_id, rest[0]!.id);
      await engine.step(id);
      // The last phase has passed (2 of 3) but one action is still open.
      expect((await phasesOf(id)).map((p) => p.state)).toEqual(['passed', 'passed']);
      expect((await campaignOf(id)).state).toBe('running');
      await report(rest[1]!.device_id, rest[1]!.id, 'rejected', 'NO_SPACE');
      await engine.step(id);
      expect(await campaignOf(id)).toMatchObject({
        state: 'finished',
        state_reason: 'completed',
        finished_at: clock.toISOString(),
      });
      expect((await eventTypes(id)).at(-1)).toBe(
        'state_changed {"from":"running","to":"finished","reason":"completed"}',
      );
    });

    it('starts a scheduled campaign when its time comes', async () => {
      const fleet = await seedFleet(db, { deviceCount: 2 });
      const { id } = await campaignWith(fleet, 5, {
        state: 'scheduled',
        startAt: new Date(clock.getTime() + 60_000).toISOString(),
      });
      await engine.tick();
      expect((await campaignOf(id)).state).toBe('scheduled');
      expect(await actionsOf(id)).toHaveLength(0);
      advance(60);
      await engine.tick();
      expect(await campaignOf(id)).toMatchObject({
        state: 'running',
        started_at: clock.toISOString(),
      });
      expect(await actionsOf(id)).toHaveLength(2);
      expect((await eventTypes(id))[0]).toBe(
        'state_changed {"from":"scheduled","to":"running","reason":null}',
      );
    });

    it('a filter that no longer resolves pauses its campaign (filter-invalid), and the tick goes on with the others', async () => {
      const fleet = await seedFleet(db, { deviceCount: 2 });
      const broken = await campaignWith(fleet, 5, { filter: '"no-such-group" in device.groups' });
      const healthy = await campaignWith(fleet, 6);
      await engine.tick();
      expect(await actionsOf(broken.id)).toHaveLength(0);
      expect(await actionsOf(healthy.id)).toHaveLength(2);
      expect(await campaignOf(broken.id)).toMatchObject({
        state: 'paused',
        state_reason: 'filter-invalid',
      });
      const [changed] = (await eventTypes(broken.id)).filter((e) => e.startsWith('state_changed'));
      expect(changed).toContain('no-such-group');
      // Paused, it is left alone: a second tick writes nothing more for it.
      const before = await snapshot(broken.id);
      await engine.tick();
      expect(await snapshot(broken.id)).toEqual(before);
    });

    it('a campaign whose release was deleted pauses (release-unavailable) and gives no actions', async () => {
      const fleet = await seedFleet(db, { deviceCount: 2 });
      const { id, releaseId } = await campaignWith(fleet, 7);
      await db
        .updateTable('releases')
        .set({ deleted_at: clock.toISOString() })
        .where('id', '=', releaseId)
        .execute();
      await engine.step(id);
      expect(await campaignOf(id)).toMatchObject({
        state: 'paused',
        state_reason: 'release-unavailable',
      });
      expect(await actionsOf(id)).toHaveLength(0);
    });
  });

  describe('health gating', () => {
    const setup = async () => {
      const fleet = await seedFleet(db, { deviceCount: 1 });
      const { id } = await campaignWith(fleet, 5, { soakSeconds: 600, healthTimeoutSeconds: 1800 });
      await engine.step(id);
      const [action] = await actionsOf(id);
      await succeed(action!.device_id, action!.id);
      return { id, deviceId: action!.device_id, successAt: clock.getTime() };
    };
    const seen = (deviceId: string) =>
      db
        .updateTable('devices')
        .set({ last_seen_at: clock.toISOString() })
        .where('id', '=', deviceId)
        .execute();

    it('confirming until the device checks in after the soak, then succeeded', async () => {
      const { id, deviceId, successAt } = await setup();
      expect((await targetsOf(id)).get(deviceId)).toMatchObject({
        status: 'confirming',
        healthy_after: new Date(successAt + 600_000).toISOString(),
        silent_after: new Date(successAt + 2_400_000).toISOString(),
      });
      advance(300);
      await seen(deviceId); // within the soak: proves nothing yet
      await engine.step(id);
      expect((await targetsOf(id)).get(deviceId)?.status).toBe('confirming');
      advance(301);
      await engine.step(id); // soak over, but not seen since
      expect((await targetsOf(id)).get(deviceId)?.status).toBe('confirming');
      await seen(deviceId);
      await engine.step(id);
      expect((await targetsOf(id)).get(deviceId)?.status).toBe('succeeded');
      expect((await campaignOf(id)).state).toBe('finished');
    });

    it('DEVICE_SILENT when not seen by success + soak + health timeout', async () => {
      const { id, deviceId } = await setup();
      advance(2399);
      await engine.step(id);
      expect((await targetsOf(id)).get(deviceId)?.status).toBe('confirming');
      advance(1);
      await engine.step(id);
      expect((await targetsOf(id)).get(deviceId)).toMatchObject({
        status: 'failed',
        code: 'DEVICE_SILENT',
      });
    });

    it('DEVICE_REVERTED when the device reports an older sequence number, even if seen', async () => {
      const { id, deviceId } = await setup();
      advance(700);
      await setInstalled(db, TENANT, deviceId, 4);
      await seen(deviceId);
      await engine.step(id);
      expect((await targetsOf(id)).get(deviceId)).toMatchObject({
        status: 'failed',
        code: 'DEVICE_REVERTED',
      });
      const installed = await db
        .selectFrom('device_components')
        .select('sequence_number')
        .where('device_id', '=', deviceId)
        .where('component_id', '=', APP_COMPONENT)
        .executeTakeFirstOrThrow();
      expect(Number(installed.sequence_number)).toBe(4);
    });

    it('health verdicts continue while the campaign is paused', async () => {
      const { id, deviceId } = await setup();
      await db.updateTable('campaigns').set({ state: 'paused' }).where('id', '=', id).execute();
      advance(2400);
      await engine.tick();
      expect((await targetsOf(id)).get(deviceId)?.code).toBe('DEVICE_SILENT');
    });
  });

  it('a revoked signing key closes the campaign’s actions and targets and pauses it (release-revoked)', async () => {
    const fleet = await seedFleet(db, { deviceCount: 3 });
    const { id, releaseId } = await campaignWith(fleet, 5, {
      phases: [{ count: 2 }, { percent: 100 }],
    });
    await db
      .updateTable('releases')
      .set({ signer_kids: JSON.stringify([fleet.kid]) })
      .where('id', '=', releaseId)
      .execute();
    await engine.step(id);
    expect(await actionsOf(id)).toHaveLength(2);
    await db.transaction().execute(async (trx) => {
      await trx
        .updateTable('trusted_keys')
        .set({ revoked_at: clock.toISOString() })
        .where('kid', '=', fleet.kid)
        .execute();
      await actions.cancelSignedBy(trx, CTX, fleet.deviceClassId, fleet.kid);
    });
    const targets = [...(await targetsOf(id)).values()].filter((t) => t.phase === 0);
    expect(targets.map((t) => [t.status, t.code])).toEqual([
      ['cancelled', 'RELEASE_KEY_REVOKED'],
      ['cancelled', 'RELEASE_KEY_REVOKED'],
    ]);
    // The campaign pauses with its reason; the next phase gets no actions.
    await engine.step(id);
    expect(await campaignOf(id)).toMatchObject({
      state: 'paused',
      state_reason: 'release-revoked',
    });
    expect(await actionsOf(id)).toHaveLength(2);
    expect((await eventTypes(id)).at(-1)).toContain('revoked key');
  });

  it('a campaign action cancelled by its device cancels the target; a request alone does not', async () => {
    const fleet = await seedFleet(db, { deviceCount: 1 });
    const { id } = await campaignWith(fleet, 5);
    await engine.step(id);
    const [action] = await actionsOf(id);
    await actions.cancel(CTX, action!.id);
    expect((await targetsOf(id)).get(action!.device_id)?.status).toBe('pending');
    await report(action!.device_id, action!.id, 'canceled');
    expect((await targetsOf(id)).get(action!.device_id)?.status).toBe('cancelled');
  });
});
