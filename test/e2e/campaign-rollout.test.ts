import { createHash } from 'node:crypto';
import { DEFAULT_FAULT_SEED, isFaultyDevice } from '@updraft/sim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CampaignWorld, type TestDevice } from './campaign-fixture.js';

// Rollout campaigns end to end: a spawned `updraft server` (SQLite, engine tick 1 s), driven by
// the `updraft` CLI as an operator would (campaign create/approve/start/watch/status/cancel), with
// simulated MCUs (`updraft sim fleet`: flash, bootloader, the real agent) checking in every
// second. Each test has its own devices (attribute `ring`) and campaign; facts are read back
// through the CLI and, for "exactly one action per device", straight from the database.

let world: CampaignWorld;
/** CLI configs of the users: the admin creates and starts, alice approves (four-eyes). */
let alice: string;

beforeAll(async () => {
  world = await CampaignWorld.start({ dialect: 'sqlite' });
  alice = await world.addUser('alice', ['approver']);
}, 120_000);
afterAll(() => world?.close());

async function approveAndStart(id: string): Promise<void> {
  expect((await world.ok(['campaign', 'approve', id], { config: alice })).state).toBe('approved');
  expect((await world.ok(['campaign', 'start', id])).state).toBe('running');
}

/** The first `n` devices in the documented phase order: ascending md5("<campaign>:<device>"). */
function canary(campaignId: string, devices: readonly TestDevice[], n: number): TestDevice[] {
  const rank = (d: TestDevice) => createHash('md5').update(`${campaignId}:${d.id}`).digest('hex');
  return [...devices].sort((a, b) => rank(a).localeCompare(rank(b))).slice(0, n);
}

interface WatchLine {
  id: string | null;
  event: string;
  data: Record<string, unknown>;
}

describe('rollout campaigns against simulated devices', () => {
  it('(a) a 3-phase campaign (10 %, 50 %, 100 %) over 40 devices completes: all succeeded, one action each', async () => {
    const devices = await world.addDevices(40, { ring: 'a' }, 'a.txt');
    const id = await world.createCampaign([
      '--name',
      'ring a',
      '--filter',
      'device.attributes.ring == "a"',
      '--phase',
      '10%',
      '--phase',
      '50%',
      '--phase',
      '100%',
    ]);
    await approveAndStart(id);
    const fleet = world.fleet('a.txt');
    // `campaign watch --json` ends by itself when the campaign is finished.
    const watch = await world.cli(['campaign', 'watch', id, '--json'], { timeoutMs: 50_000 });
    await fleet.stop();
    expect(watch.code, watch.stderr).toBe(0);
    const events = watch.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as WatchLine);
    expect(events.filter((e) => e.event === 'phase_advanced').map((e) => e.data)).toEqual([
      expect.objectContaining({ phase: 0, next: 1 }),
      expect.objectContaining({ phase: 1, next: 2 }),
    ]);
    // The engine logs the first phase's start; later ones start with their phase_advanced.
    expect(events.filter((e) => e.event === 'phase_started').map((e) => e.data.phase)).toEqual([0]);
    expect(events.at(-1)).toMatchObject({
      event: 'state_changed',
      data: { to: 'finished', reason: 'completed' },
    });

    const status = await world.status(id);
    expect(status).toMatchObject({ state: 'finished', stateReason: 'completed' });
    expect(status.totals).toMatchObject({ targets: 40, succeeded: 40, failed: 0, scheduled: 0 });
    // Cumulative sizes: 4, then 20 (16 more), then 40 (20 more).
    expect(status.phases.map((p) => [p.state, p.counts.targets])).toEqual([
      ['passed', 4],
      ['passed', 16],
      ['passed', 20],
    ]);
    const perDevice = await world.actionsPerDevice(id);
    expect(perDevice.size).toBe(40);
    expect(devices.map((d) => perDevice.get(d.id))).toEqual(devices.map(() => 1));
    expect(new Set((await world.actionStates(id)).values())).toEqual(new Set(['success']));
  }, 60_000);

  it('(b) with --fault-rate 0.5 and --error-threshold 20% it pauses after the first phase; later phases get no action', async () => {
    const devices = await world.addDevices(40, { ring: 'b' }, 'b.txt');
    const faulty = (d: TestDevice) => isFaultyDevice(d.name, 0.5, DEFAULT_FAULT_SEED);
    expect(devices.filter(faulty).length).toBeGreaterThan(4);
    // The canary (first 10 % by the documented rank) must hold a faulty device: a campaign id
    // whose canary is all healthy is replaced by another draft (1 in 16 at this fault rate).
    let id = '';
    let first: TestDevice[] = [];
    for (let attempt = 0; attempt < 20 && !first.some(faulty); attempt++) {
      id = await world.createCampaign([
        '--name',
        `ring b #${attempt}`,
        '--filter',
        'device.attributes.ring == "b"',
        '--phase',
        '10%',
        '--phase',
        '50%',
        '--phase',
        '100%',
        '--error-threshold',
        '20%',
      ]);
      first = canary(id, devices, 4);
    }
    const failing = first.filter(faulty);
    expect(failing.length).toBeGreaterThan(0);
    await approveAndStart(id);
    const fleet = world.fleet('b.txt', { extra: ['--fault-rate', '0.5'] });
    try {
      // Paused by the threshold, and the canary's open actions ran to their end.
      await expect
        .poll(
          async () => {
            const s = await world.status(id);
            const c = s.phases[0]!.counts;
            return { state: s.state, reason: s.stateReason, done: c.succeeded! + c.failed! };
          },
          { timeout: 40_000, interval: 500 },
        )
        .toEqual({ state: 'paused', reason: 'error-threshold', done: 4 });
    } finally {
      await fleet.stop();
    }
    const status = await world.status(id);
    expect(status.phases.map((p) => p.state)).toEqual(['paused', 'pending', 'pending']);
    expect(status.failureReasons).toEqual([
      expect.objectContaining({ code: 'SIM_BOOT_TRIAL_REVERTED', count: failing.length }),
    ]);
    expect(status.totals).toMatchObject({
      targets: 40,
      failed: failing.length,
      succeeded: 4 - failing.length,
      scheduled: 36,
    });
    const human = await world.cli(['campaign', 'status', id]);
    expect(human.stdout).toContain('paused (error-threshold)');
    expect(human.stdout).toContain(`SIM_BOOT_TRIAL_REVERTED: ${failing.length}`);
    // Only the canary's devices ever got an action.
    expect([...(await world.actionsPerDevice(id)).keys()].sort()).toEqual(
      first.map((d) => d.id).sort(),
    );
  }, 60_000);

  it('(c) a continuous campaign picks up a device registered after the start', async () => {
    const early = await world.addDevices(3, { ring: 'c' }, 'c-early.txt');
    const id = await world.createCampaign([
      '--name',
      'ring c',
      '--type',
      'continuous',
      '--filter',
      'device.attributes.ring == "c"',
    ]);
    await approveAndStart(id);
    await expect.poll(async () => (await world.status(id)).totals.targets).toBe(3);
    const late = await world.addDevices(1, { ring: 'c' }, 'c-late.txt');
    await world.writeTokens('c.txt', [...early, ...late]);
    const fleet = world.fleet('c.txt');
    try {
      await expect
        .poll(async () => (await world.actionStates(id)).get(late[0]!.id), {
          timeout: 30_000,
          interval: 500,
        })
        .toBe('success');
      await expect
        .poll(async () => (await world.status(id)).totals, { timeout: 20_000, interval: 500 })
        .toMatchObject({ targets: 4, succeeded: 4 });
    } finally {
      await fleet.stop();
    }
    // A continuous campaign runs until an operator finishes it.
    expect((await world.status(id)).state).toBe('running');
    expect((await world.ok(['campaign', 'finish', id])).state).toBe('finished');
  }, 60_000);

  it('(d) a recurring maintenance window that is not open defers the installation: devices download only', async () => {
    const devices = await world.addDevices(2, { ring: 'd' }, 'd.txt');
    // A daily one-minute window twelve hours from now.
    const hour = (new Date().getUTCHours() + 12) % 24;
    const id = await world.createCampaign([
      '--name',
      'ring d',
      '--filter',
      'device.attributes.ring == "d"',
      '--window',
      `0 ${hour} * * *`,
      '--window-duration',
      '1m',
      '--window-tz',
      'UTC',
    ]);
    await approveAndStart(id);
    const fleet = world.fleet('d.txt');
    try {
      await expect
        .poll(async () => [...(await world.actionStates(id)).values()], {
          timeout: 30_000,
          interval: 500,
        })
        .toEqual(['downloaded', 'downloaded']);
      // Each device checks in again a few times after its download, and still waits.
      const downloadedAt = Date.now();
      for (const d of devices) {
        await expect
          .poll(
            async () => {
              const device = await world.api<{ lastSeenAt: string | null }>(
                'GET',
                `/api/v1/devices/${d.id}`,
              );
              return Date.parse(device.lastSeenAt ?? '') - downloadedAt;
            },
            { timeout: 15_000, interval: 500 },
          )
          .toBeGreaterThan(3000);
      }
    } finally {
      await fleet.stop();
    }
    expect([...(await world.actionStates(id)).values()]).toEqual(['downloaded', 'downloaded']);
    expect((await world.status(id)).totals).toMatchObject({
      downloading: 2,
      installing: 0,
      succeeded: 0,
    });
    // A rehearsal ends at its --duration also while its devices wait for the window.
    const started = Date.now();
    const short = world.fleet('d.txt', { durationSeconds: 4 });
    const ended = await Promise.race([
      short.done,
      new Promise<null>((resolve) => setTimeout(() => resolve(null), 20_000)),
    ]);
    if (ended === null) await short.stop();
    expect(ended?.code, ended?.stderr).toBe(0);
    expect(ended?.json<{ outcomes: Record<string, number> }>().outcomes).toMatchObject({
      updating: 2,
    });
    expect(Date.now() - started).toBeLessThan(20_000);
  }, 60_000);

  it('(e) four-eyes: the creator cannot approve, support cannot start, an approver approves, then start works', async () => {
    const rita = await world.addUser('rita', ['rollout-admin', 'approver']);
    const sam = await world.addUser('sam', ['support']);
    await world.addDevices(1, { ring: 'e' }, 'e.txt');
    const id = await world.createCampaign(
      ['--name', 'ring e', '--filter', 'device.attributes.ring == "e"'],
      rita,
    );
    const own = await world.cli(['campaign', 'approve', id, '--json'], { config: rita });
    expect(own.code).toBe(8);
    expect(own.json()).toMatchObject({
      error: { code: 'CAMPAIGN_SELF_APPROVAL', details: { status: 403 } },
    });
    const unapproved = await world.cli(['campaign', 'start', id, '--json'], { config: rita });
    expect(unapproved.code).toBe(8);
    expect(unapproved.json()).toMatchObject({
      error: { code: 'CAMPAIGN_APPROVAL_REQUIRED', details: { status: 409 } },
    });
    const support = await world.cli(['campaign', 'start', id, '--json'], { config: sam });
    expect(support.json()).toMatchObject({
      error: { code: 'AUTH_FORBIDDEN', details: { status: 403 } },
    });
    // A rejection sends it back to draft with its reason; then an approval.
    const rejected = await world.ok<{
      state: string;
      review: { decision: string; comment: string };
    }>(['campaign', 'reject', id, '--comment', 'canary first'], { config: alice });
    expect(rejected).toMatchObject({
      state: 'draft',
      review: { decision: 'rejected', comment: 'canary first' },
    });
    await world.ok(['campaign', 'approve', id, '--comment', 'ok'], { config: alice });
    expect(
      (await world.cli(['campaign', 'start', id, '--json'], { config: sam })).json(),
    ).toMatchObject({ error: { code: 'AUTH_FORBIDDEN' } });
    expect((await world.ok(['campaign', 'start', id], { config: rita })).state).toBe('running');
    const listed = await world.ok<{ items: { id: string; state: string }[] }>([
      'campaign',
      'list',
      '--state',
      'running',
    ]);
    expect(listed.items.map((c) => c.id)).toContain(id);
    await world.ok(['campaign', 'cancel', id]);
  }, 60_000);

  it('(f) cancel reaches the devices: their open actions end canceled', async () => {
    const devices = await world.addDevices(3, { ring: 'f' }, 'f.txt');
    // A window that is not open keeps the actions open while the devices check in.
    const hour = (new Date().getUTCHours() + 12) % 24;
    const id = await world.createCampaign([
      '--name',
      'ring f',
      '--filter',
      'device.attributes.ring == "f"',
      '--window',
      `0 ${hour} * * *`,
      '--window-duration',
      '1m',
    ]);
    await approveAndStart(id);
    const fleet = world.fleet('f.txt');
    try {
      await expect
        .poll(async () => [...(await world.actionStates(id)).values()], {
          timeout: 30_000,
          interval: 500,
        })
        .toEqual(['downloaded', 'downloaded', 'downloaded']);
      expect((await world.ok(['campaign', 'cancel', id])).state).toBe('cancelled');
      await expect
        .poll(async () => [...(await world.actionStates(id)).values()], {
          timeout: 20_000,
          interval: 500,
        })
        .toEqual(['canceled', 'canceled', 'canceled']);
    } finally {
      await fleet.stop();
    }
    expect((await world.status(id)).totals).toMatchObject({ targets: 3, cancelled: 3 });
    expect(devices).toHaveLength(3);
  }, 60_000);
});
