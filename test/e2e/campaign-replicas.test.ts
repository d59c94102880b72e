import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dialectsUnderTest,
  postgresUnavailableReason,
} from '../../packages/server/src/testing/test-database.js';
import { CampaignWorld } from './campaign-fixture.js';
import { RoundRobinProxy } from './round-robin-proxy.js';

// One campaign run by three server processes on one PostgreSQL schema, with 500 simulated
// devices reaching them through a round-robin balancer. One replica is killed with SIGKILL while
// a phase runs: the others carry on (the engine coordinates only through the database), the
// campaign completes, and every device has exactly one action for it.

const DEVICES = 500;
const unavailable = await postgresUnavailableReason();
const declare =
  !dialectsUnderTest().includes('postgres') ||
  (unavailable !== undefined && process.env.CI !== 'true')
    ? describe.skip
    : describe;
if (declare === describe.skip) {
  console.warn(`[updraft tests] skipping the campaign replica test: ${unavailable ?? 'DIALECTS'}`);
}

declare('campaign across three replicas [postgres]', () => {
  let world: CampaignWorld;
  let proxy: RoundRobinProxy;

  beforeAll(async () => {
    // With CI=true a missing PostgreSQL fails here, loudly.
    world = await CampaignWorld.start({ dialect: 'postgres', replicas: 3 });
    proxy = await RoundRobinProxy.start(() => world.servers.map((s) => s.url));
  }, 120_000);
  afterAll(async () => {
    await proxy?.close();
    await world?.close();
  });

  it('(h) survives a replica killed mid-phase: the campaign completes, one action per device', async () => {
    const devices = await world.addDevices(DEVICES, { ring: 'h' }, 'h.txt');
    const approver = await world.addUser('alice', ['approver']);
    const id = await world.createCampaign([
      '--name',
      'replicated',
      '--filter',
      'device.attributes.ring == "h"',
      '--phase',
      '10%',
      '--phase',
      '50%',
      '--phase',
      '100%',
    ]);
    await world.ok(['campaign', 'approve', id], { config: approver });
    await world.ok(['campaign', 'start', id]);
    // Every 3 s: 500 devices at one check-in a second would be most of a small CI machine.
    const fleet = world.fleet('h.txt', { server: proxy.url, pollIntervalSeconds: 3 });
    const victim = world.servers[2]!;
    try {
      // Mid-phase: the second phase has started and some, not all, of its devices are done.
      await expect
        .poll(
          async () => {
            const s = await world.status(id);
            const p = s.phases[1]!;
            return p.state === 'running' && p.counts.succeeded! > 0 && p.counts.succeeded! < 150;
          },
          { timeout: 40_000, interval: 200 },
        )
        .toBe(true);
      expect(proxy.served.get(victim.url)).toBeGreaterThan(0);
      expect(await victim.kill('SIGKILL')).toMatchObject({ signal: 'SIGKILL' });
      world.servers.splice(world.servers.indexOf(victim), 1);
      await expect
        .poll(async () => (await world.status(id)).state, { timeout: 50_000, interval: 500 })
        .toBe('finished');
    } finally {
      await fleet.stop();
    }
    const status = await world.status(id);
    expect(status.totals).toMatchObject({ targets: DEVICES, succeeded: DEVICES, failed: 0 });
    const perDevice = await world.actionsPerDevice(id);
    expect(perDevice.size).toBe(DEVICES);
    expect(devices.filter((d) => perDevice.get(d.id) !== 1)).toEqual([]);
  }, 120_000);
});
