import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CampaignKit,
  campaignKit,
  seedTargets,
  targetRank,
} from '../../testing/campaign-fixtures.js';
import { addDevice } from '../../testing/release-fixtures.js';
import { describeEachDialect } from '../../testing/test-database.js';
import { createTestServer, type TestServer } from '../../testing/test-server.js';

// These tests seed targets and events themselves (the API over given rows): no engine steps in.
const IDLE_ENGINE = { start() {}, poke() {}, close: async () => {} };

// The engine is another part: targets, actions and samples are written here as it would have,
// and the API's reads, cancel and resume are checked against them.
describeEachDialect('campaign API over seeded targets', (dialect) => {
  let server: TestServer;
  let kit: CampaignKit;
  beforeAll(async () => {
    server = await createTestServer(dialect, {}, { campaignEngine: IDLE_ENGINE });
    kit = await campaignKit(server, 10);
  });
  afterAll(() => server?.close());

  const db = () => server.app.updraft.db;
  // Devices of the current test (one open action per device: each test seeds its own).
  let devices: string[] = [];
  const dev = (i: number) => devices[i] as string;

  /** An approved and started campaign of two phases (40 %, 100 %). */
  const running = async (): Promise<string> => {
    const created = await kit.call('rollout-admin', 'POST', '/campaigns', {
      name: 'seeded',
      releaseId: kit.releaseId,
      filter: 'device.name != ""',
      phases: [{ percent: 40 }, { percent: 100 }],
    });
    const id = created.json().id as string;
    await kit.call('approver', 'POST', `/campaigns/${id}/approve`, {});
    expect((await kit.call('rollout-admin', 'POST', `/campaigns/${id}/start`, {})).statusCode).toBe(
      200,
    );
    return id;
  };

  /** Ten targets across both phases and every kind of status (and their actions). */
  const seedTen = async (id: string) => {
    devices = [];
    for (let i = 0; i < 10; i++)
      devices.push((await addDevice(db(), kit.fleet.tenantId, kit.fleet.deviceClassId)).id);
    const action = (i: number, state: string, open: boolean) => ({
      id: `act_${id}_${i}`,
      state,
      open,
    });
    await seedTargets(server, kit, id, [
      { deviceId: dev(0), phase: 0, status: 'succeeded', action: action(0, 'success', false) },
      {
        deviceId: dev(1),
        phase: 0,
        status: 'failed',
        code: 'TRIAL_BOOT_FAILED',
        action: action(1, 'failure', false),
      },
      {
        deviceId: dev(2),
        phase: 0,
        status: 'failed',
        code: 'TRIAL_BOOT_FAILED',
        action: action(2, 'failure', false),
      },
      {
        deviceId: dev(3),
        phase: 0,
        status: 'rejected',
        code: 'USER_DECLINED',
        action: action(3, 'rejected', false),
      },
      { deviceId: dev(4), phase: 1, status: 'pending', action: action(4, 'assigned', true) },
      { deviceId: dev(5), phase: 1, status: 'downloading', action: action(5, 'downloaded', true) },
      { deviceId: dev(6), phase: 1, status: 'installing', action: action(6, 'installing', true) },
      { deviceId: dev(7), phase: null, status: 'scheduled' },
      { deviceId: dev(8), phase: null, status: 'scheduled' },
      { deviceId: dev(9), phase: 1, status: 'confirming', action: action(9, 'success', false) },
    ]);
    await db().updateTable('campaigns').set({ current_phase: 1 }).where('id', '=', id).execute();
    await db()
      .updateTable('campaign_phases')
      .set((eb) => ({ state: eb.case().when('idx', '=', 0).then('passed').else('running').end() }))
      .where('campaign_id', '=', id)
      .execute();
  };

  const counts = (c: Partial<Record<string, number>>) => ({
    targets: 0,
    scheduled: 0,
    pending: 0,
    downloading: 0,
    installing: 0,
    confirming: 0,
    succeeded: 0,
    failed: 0,
    rejected: 0,
    cancelled: 0,
    skipped: 0,
    ...c,
  });

  it('answers the status document: counts per phase and in total, failure reasons, bytes saved', async () => {
    const id = await running();
    await seedTen(id);
    const delivery = (actionId: string, deviceId: string, saved: number) => ({
      action_id: actionId,
      patch_digest: `p-${actionId}`,
      tenant_id: kit.fleet.tenantId,
      release_id: kit.releaseId,
      device_id: deviceId,
      bytes_saved: saved,
      at: new Date().toISOString(),
    });
    // An action given by hand (no campaign) to one of the devices, earlier.
    await db()
      .insertInto('actions')
      .values({
        id: `act_by_hand_${id}`,
        tenant_id: kit.fleet.tenantId,
        device_id: dev(7),
        release_id: kit.releaseId,
        state: 'success',
        cancel_requested: 0,
        download_only: 0,
        action_type: 'soft',
        force_after: null,
        recurring_window: null,
        maintenance_window: null,
        campaign_id: null,
        open_key: null,
        revision: 1,
        created_at: new Date().toISOString(),
        created_by: null,
        updated_at: new Date().toISOString(),
      })
      .execute();
    await db()
      .insertInto('delta_deliveries')
      .values([
        delivery(`act_${id}_4`, dev(4), 1000),
        delivery(`act_${id}_9`, dev(9), 500),
        // Not the campaign's action: not counted.
        delivery(`act_by_hand_${id}`, dev(7), 7777),
      ])
      .execute();
    const res = await kit.call('support', 'GET', `/campaigns/${id}/status`);
    expect(res.statusCode).toBe(403);
    // Names unlike the ids, so the examples show which is which.
    const nameOf = (deviceId: string) => `name-of-${deviceId}`;
    for (const i of [1, 2, 3])
      await db()
        .updateTable('devices')
        .set({ name: nameOf(dev(i)) })
        .where('id', '=', dev(i))
        .execute();
    const status = (await kit.call('approver', 'GET', `/campaigns/${id}/status`)).json();
    // Examples in rank order (stable from call to call).
    const failedInRank = [dev(1), dev(2)].sort((a, b) =>
      targetRank(id, a) < targetRank(id, b) ? -1 : 1,
    );
    const example = (deviceId: string) => ({ id: deviceId, name: nameOf(deviceId) });
    expect(status).toEqual({
      id,
      state: 'running',
      stateReason: null,
      currentPhase: 1,
      phases: [
        {
          index: 0,
          state: 'passed',
          size: 4,
          counts: counts({ targets: 4, succeeded: 1, failed: 2, rejected: 1 }),
        },
        {
          index: 1,
          state: 'running',
          size: 4,
          counts: counts({ targets: 4, pending: 1, downloading: 1, installing: 1, confirming: 1 }),
        },
      ],
      totals: counts({
        targets: 10,
        scheduled: 2,
        pending: 1,
        downloading: 1,
        installing: 1,
        confirming: 1,
        succeeded: 1,
        failed: 2,
        rejected: 1,
      }),
      failureReasons: [
        {
          code: 'TRIAL_BOOT_FAILED',
          count: 2,
          devices: failedInRank.map(nameOf),
          examples: failedInRank.map(example),
        },
        {
          code: 'USER_DECLINED',
          count: 1,
          devices: [nameOf(dev(3))],
          examples: [example(dev(3))],
        },
      ],
      bytesSaved: 1500,
    });
  });

  it('lists targets in rank order with device names, filtered by status and phase, keyset paged', async () => {
    const id = await running();
    await seedTen(id);
    const all = (await kit.call('approver', 'GET', `/campaigns/${id}/targets?limit=1000`)).json();
    expect(all.nextCursor).toBeNull();
    const expected = [...devices].sort((a, b) => (targetRank(id, a) < targetRank(id, b) ? -1 : 1));
    expect(all.items.map((t: { deviceId: string }) => t.deviceId)).toEqual(expected);
    expect(all.items.find((t: { deviceId: string }) => t.deviceId === dev(1))).toMatchObject({
      deviceName: dev(1),
      status: 'failed',
      code: 'TRIAL_BOOT_FAILED',
      phase: 0,
      actionId: `act_${id}_1`,
    });
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: { deviceId: string }[]; nextCursor: string | null } = (
        await kit.call(
          'approver',
          'GET',
          `/campaigns/${id}/targets?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        )
      ).json();
      paged.push(...page.items.map((t) => t.deviceId));
      cursor = page.nextCursor;
    } while (cursor !== null);
    expect(paged).toEqual(expected);
    const failed = (
      await kit.call('approver', 'GET', `/campaigns/${id}/targets?status=failed`)
    ).json();
    expect(failed.items.map((t: { deviceId: string }) => t.deviceId).sort()).toEqual(
      [dev(1), dev(2)].sort(),
    );
    const phase0 = (await kit.call('approver', 'GET', `/campaigns/${id}/targets?phase=0`)).json();
    expect(phase0.items).toHaveLength(4);
    const bad = await kit.call('approver', 'GET', `/campaigns/${id}/targets?status=lost`);
    expect(bad.statusCode).toBe(400);
  });

  it('answers the progress samples oldest first, the latest ones when limited', async () => {
    const id = await running();
    await db()
      .insertInto('campaign_samples')
      .values(
        ['2026-12-01T10:00:00.000Z', '2026-12-01T10:01:00.000Z', '2026-12-01T10:02:00.000Z'].map(
          (at, i) => ({
            tenant_id: kit.fleet.tenantId,
            campaign_id: id,
            at,
            counts: JSON.stringify({ targets: 10, succeeded: i }),
          }),
        ),
      )
      .execute();
    const series = (await kit.call('approver', 'GET', `/campaigns/${id}/timeseries`)).json();
    expect(series.items.map((s: { at: string }) => s.at)).toEqual([
      '2026-12-01T10:00:00.000Z',
      '2026-12-01T10:01:00.000Z',
      '2026-12-01T10:02:00.000Z',
    ]);
    expect(series.items[2].totals).toEqual(counts({ targets: 10, succeeded: 2 }));
    const last = (await kit.call('approver', 'GET', `/campaigns/${id}/timeseries?limit=1`)).json();
    expect(last.items.map((s: { at: string }) => s.at)).toEqual(['2026-12-01T10:02:00.000Z']);
  });

  describe('cancel', () => {
    it('requests cancellation of open cancellable actions, with their events, and cancels waiting targets', async () => {
      const id = await running();
      await seedTen(id);
      const announced: string[] = [];
      const unsubscribe = server.app.updraft.deviceChanges.subscribe((c) => {
        if (c !== null) announced.push(c.deviceId);
      });
      try {
        const res = await kit.call('rollout-admin', 'POST', `/campaigns/${id}/cancel`);
        expect(res.statusCode, res.body).toBe(200);
        expect(res.json()).toMatchObject({ state: 'cancelled', stateReason: 'operator' });
      } finally {
        unsubscribe();
      }
      const actions = await db()
        .selectFrom('actions')
        .select(['id', 'state', 'cancel_requested', 'revision'])
        .where('campaign_id', '=', id)
        .orderBy('id')
        .execute();
      const byId = new Map(actions.map((a) => [a.id, a]));
      // assigned and downloaded can still be cancelled; installing and closed ones cannot.
      for (const i of [4, 5])
        expect(byId.get(`act_${id}_${i}`)).toMatchObject({ cancel_requested: 1, revision: 2 });
      for (const i of [0, 1, 2, 3, 6, 9])
        expect(byId.get(`act_${id}_${i}`)).toMatchObject({ cancel_requested: 0, revision: 1 });
      const events = await db()
        .selectFrom('action_events')
        .select(['action_id', 'status', 'source', 'code', 'actor_id'])
        .where(
          'action_id',
          'in',
          actions.map((a) => a.id),
        )
        .orderBy('action_id')
        .execute();
      expect(events).toEqual([
        {
          action_id: `act_${id}_4`,
          status: 'cancel_requested',
          source: 'server',
          code: 'CAMPAIGN_CANCELLED',
          actor_id: kit.userIds['rollout-admin'],
        },
        {
          action_id: `act_${id}_5`,
          status: 'cancel_requested',
          source: 'server',
          code: 'CAMPAIGN_CANCELLED',
          actor_id: kit.userIds['rollout-admin'],
        },
      ]);
      // The cancel reaches the action's history as the action API shows it.
      const history = (await kit.call('admin', 'GET', `/actions/act_${id}_4`)).json();
      expect(history).toMatchObject({ cancelRequested: true, state: 'assigned' });
      expect(history.events.map((e: { status: string }) => e.status)).toEqual(['cancel_requested']);
      expect(announced).toEqual(expect.arrayContaining([dev(4), dev(5)]));
      const targets = (
        await kit.call('approver', 'GET', `/campaigns/${id}/targets?status=cancelled`)
      ).json();
      expect(targets.items.map((t: { deviceId: string }) => t.deviceId).sort()).toEqual(
        [dev(7), dev(8)].sort(),
      );
    });
  });

  it('cancel leaves an action already cancelled by hand as it was (one request, one event)', async () => {
    const id = await running();
    devices = [];
    for (let i = 0; i < 2; i++)
      devices.push((await addDevice(db(), kit.fleet.tenantId, kit.fleet.deviceClassId)).id);
    const byHand = `act_${id}_hand`;
    await seedTargets(server, kit, id, [
      {
        deviceId: dev(0),
        phase: 0,
        status: 'pending',
        action: { id: `act_${id}_a`, state: 'assigned', open: true },
      },
      {
        deviceId: dev(1),
        phase: 0,
        status: 'downloading',
        action: { id: byHand, state: 'downloading', open: true },
      },
    ]);
    expect((await kit.call('admin', 'POST', `/actions/${byHand}/cancel`)).statusCode).toBe(200);
    const announced: string[] = [];
    const unsubscribe = server.app.updraft.deviceChanges.subscribe((c) => {
      if (c !== null) announced.push(c.deviceId);
    });
    try {
      expect((await kit.call('rollout-admin', 'POST', `/campaigns/${id}/cancel`)).statusCode).toBe(
        200,
      );
    } finally {
      unsubscribe();
    }
    const events = await db()
      .selectFrom('action_events')
      .select(['action_id', 'code', 'actor_id'])
      .where('action_id', 'in', [`act_${id}_a`, byHand])
      .where('status', '=', 'cancel_requested')
      .orderBy('action_id')
      .execute();
    expect(events).toEqual([
      {
        action_id: `act_${id}_a`,
        code: 'CAMPAIGN_CANCELLED',
        actor_id: kit.userIds['rollout-admin'],
      },
      { action_id: byHand, code: null, actor_id: kit.userIds.admin },
    ]);
    const revision = await db()
      .selectFrom('actions')
      .select('revision')
      .where('id', '=', byHand)
      .executeTakeFirstOrThrow();
    expect(revision.revision).toBe(2);
    expect(announced).toContain(dev(0));
    expect(announced).not.toContain(dev(1));
  });

  describe('resume', () => {
    it('after an error-threshold pause, acknowledges the phase errors so far and runs the phase again', async () => {
      const id = await running();
      await seedTen(id);
      await db()
        .updateTable('campaigns')
        .set({ state: 'paused', state_reason: 'error-threshold', current_phase: 0 })
        .where('id', '=', id)
        .execute();
      await db()
        .updateTable('campaign_phases')
        .set({ state: 'paused' })
        .where('campaign_id', '=', id)
        .where('idx', '=', 0)
        .execute();
      const res = await kit.call('rollout-admin', 'POST', `/campaigns/${id}/resume`);
      expect(res.json()).toMatchObject({ state: 'running', stateReason: null, currentPhase: 0 });
      const phase = await db()
        .selectFrom('campaign_phases')
        .select(['state', 'errors_acknowledged'])
        .where('campaign_id', '=', id)
        .where('idx', '=', 0)
        .executeTakeFirstOrThrow();
      // Two failed and one rejected target in phase 0.
      expect(phase).toEqual({ state: 'running', errors_acknowledged: 3 });
    });

    it('after a manual gate, leaves the passed phase for the engine to advance from', async () => {
      const id = await running();
      await db()
        .updateTable('campaigns')
        .set({ state: 'paused', state_reason: 'manual-gate', current_phase: 0 })
        .where('id', '=', id)
        .execute();
      await db()
        .updateTable('campaign_phases')
        .set({ state: 'passed' })
        .where('campaign_id', '=', id)
        .where('idx', '=', 0)
        .execute();
      const res = await kit.call('rollout-admin', 'POST', `/campaigns/${id}/resume`);
      expect(res.json()).toMatchObject({ state: 'running', currentPhase: 0 });
      expect(res.json().phases.map((p: { state: string }) => p.state)).toEqual([
        'passed',
        'pending',
      ]);
    });
  });

  it('publishes campaign.state_changed into the webhook outbox in the same transaction', async () => {
    await kit.call('admin', 'PUT', '/webhooks/settings', { allowPrivateTargets: true });
    const hook = await kit.call('admin', 'POST', '/webhooks', {
      url: 'http://127.0.0.1:9/campaigns',
      events: ['campaign.state_changed'],
    });
    expect(hook.statusCode, hook.body).toBe(201);
    const id = await running();
    await kit.call('rollout-admin', 'POST', `/campaigns/${id}/pause`, {});
    const deliveries = await db()
      .selectFrom('webhook_deliveries')
      .select(['event', 'data'])
      .where('webhook_id', '=', hook.json().webhook.id)
      .execute();
    const mine = deliveries
      .map((d) => ({ event: d.event, data: JSON.parse(d.data) }))
      .filter((d) => d.data.campaign?.id === id);
    // Deliveries of one millisecond have no order among them: compare as a set.
    expect(mine).toHaveLength(3);
    expect(mine).toEqual(
      expect.arrayContaining([
        {
          event: 'campaign.state_changed',
          data: {
            campaign: { id, name: 'seeded' },
            from: 'draft',
            to: 'approved',
            reason: 'approved',
          },
        },
        {
          event: 'campaign.state_changed',
          data: {
            campaign: { id, name: 'seeded' },
            from: 'approved',
            to: 'running',
            reason: 'operator',
          },
        },
        {
          event: 'campaign.state_changed',
          data: {
            campaign: { id, name: 'seeded' },
            from: 'running',
            to: 'paused',
            reason: 'operator',
          },
        },
      ]),
    );
  });
});
