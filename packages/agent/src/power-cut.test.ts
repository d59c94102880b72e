import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentState } from './machine/agent-states.js';
import { DeviceApiServer } from './testing/device-api-server.js';
import { image, MAIN, SECTOR, TestDevice } from './testing/harness.js';
import { signedEnvelope } from './testing/signed-release.js';

// Named fault scenarios over the in-memory ports: count the durable operations (sector erases and
// writes, journal saves, boot-control writes) of a clean run, then cut power before each one in
// turn, boot (the fake bootloader reverts unconfirmed trials and refuses invalid images) and run
// the agent again. Every run must converge to the clean run's outcome and only ever boot a valid
// image. The exhaustive sweep against the MCUboot-like simulator (torn writes included) lives in
// @updraft/sim.

const NEW = image(2 * SECTOR + 100, 21);
let server: DeviceApiServer;
let nextAction = 0;
let envelope: Uint8Array;

beforeAll(async () => {
  server = await new DeviceApiServer().start();
  envelope = await signedEnvelope({ sequenceNumber: 2, components: [{ id: MAIN, image: NEW }] });
});
afterAll(async () => {
  await server.close();
});

type Scenario = 'good' | 'crash-on-boot' | 'unhealthy';

function device(scenario: Scenario): { device: TestDevice; actionId: string } {
  nextAction += 1;
  const actionId = `act_${nextAction}`;
  server.offer({
    actionId,
    version: '1.1.0',
    sequenceNumber: 2,
    envelope,
    payloads: [NEW],
  });
  const d = new TestDevice(server, {
    policy:
      scenario === 'unhealthy'
        ? { healthCheck: async () => ({ ok: false, reason: 'no sensor' }) }
        : {},
  });
  d.boot.valid.push(d.factory, NEW);
  if (scenario === 'crash-on-boot') d.boot.bootable.set('b', false);
  return { device: d, actionId };
}

interface Outcome {
  booted: string;
  final: string | undefined;
  code: string | null | undefined;
  sequenceNumber: number | undefined;
}

async function outcome(d: TestDevice, actionId: string): Promise<Outcome> {
  const journal = await d.agent().loadJournal();
  return {
    booted: d.boot.booted,
    final: server.final(actionId)?.status,
    code: server.final(actionId)?.code,
    sequenceNumber: journal.installed[0]?.sequenceNumber,
  };
}

// State the agent was in at each durable operation of a clean run.
function statesAtOps(d: TestDevice): AgentState[] {
  const states: AgentState[] = [];
  let state: AgentState = 'Idle';
  d.notices.length = 0;
  const origTick = d.faults.tick.bind(d.faults);
  d.faults.tick = (what: string) => {
    const last = d.notices.filter((n) => n.type === 'transition').at(-1);
    if (last?.type === 'transition') state = last.to;
    states.push(state);
    origTick(what);
  };
  return states;
}

const EXPECTED: Record<Scenario, Omit<Outcome, 'code'> & { code: string | null }> = {
  good: { booted: 'b', final: 'success', code: null, sequenceNumber: 2 },
  'crash-on-boot': {
    booted: 'a',
    final: 'failure',
    code: 'BOOT_TRIAL_EXHAUSTED',
    sequenceNumber: 1,
  },
  unhealthy: {
    booted: 'a',
    final: 'failure',
    code: 'AGENT_HEALTH_CHECK_FAILED',
    sequenceNumber: 1,
  },
};

const KILLED_IN: Record<Scenario, AgentState[]> = {
  good: [
    'VerifyManifest',
    'Download',
    'InstallWait',
    'ArtifactInstall',
    'ArtifactReboot',
    'ArtifactVerifyReboot',
    'ArtifactCommit',
    'Cleanup',
  ],
  'crash-on-boot': [
    'Download',
    'ArtifactInstall',
    'ArtifactVerifyReboot',
    'ArtifactFailure',
    'Cleanup',
  ],
  unhealthy: [
    'Download',
    'ArtifactInstall',
    'ArtifactRollback',
    'ArtifactRollbackReboot',
    'ArtifactFailure',
    'Cleanup',
  ],
};

describe.each(['good', 'crash-on-boot', 'unhealthy'] as const)(
  'power cut sweep: %s update',
  (scenario) => {
    it('converges to the clean outcome from a cut before every durable operation', async () => {
      const clean = device(scenario);
      const states = statesAtOps(clean.device);
      await clean.device.runToIdle();
      const ops = clean.device.faults.ops;
      expect(await outcome(clean.device, clean.actionId)).toEqual(EXPECTED[scenario]);
      expect(ops).toBeGreaterThan(10);

      const killedIn = new Set<AgentState>();
      for (let cut = 1; cut <= ops; cut++) {
        const run = device(scenario);
        run.device.faults.cutAt = cut;
        const cuts = await run.device.runThroughCuts();
        expect(cuts, `cut ${cut}`).toBe(1);
        const got = await outcome(run.device, run.actionId);
        // A cut before the very first operation can only delay the same outcome.
        expect(got, `cut at op ${cut} (${run.device.faults.log[cut - 1]})`).toEqual(
          EXPECTED[scenario],
        );
        // Never booted anything but a valid image.
        expect(
          run.device.boot.bootLog.every((b) => b.valid),
          `cut ${cut}`,
        ).toBe(true);
        killedIn.add(states[cut - 1]!);
      }
      // The sweep reaches into every step of the update that writes anything.
      for (const s of KILLED_IN[scenario]) expect(killedIn, s).toContain(s);
      console.log(`power-cut sweep ${scenario}: cutPoints=${ops} bricks=0`);
    });
  },
);

describe('seeded random multi-cut runs', () => {
  it('converge after two or three power cuts at random points of one update', async () => {
    let seed = 20261122;
    const random = (n: number) => {
      seed = (seed * 48271) % 2147483647;
      return 1 + (seed % n);
    };
    const clean = device('good');
    await clean.device.runToIdle();
    const ops = clean.device.faults.ops;
    let happened = 0;
    for (let run = 0; run < 12; run++) {
      const scenario = (['good', 'crash-on-boot', 'unhealthy'] as const)[run % 3]!;
      const d = device(scenario);
      const cuts = 2 + (run % 2);
      let done = false;
      for (let c = 0; c <= cuts && !done; c++) {
        // The next cut falls somewhere in the rest of the update (or never, on the last pass).
        d.device.faults.cutAt =
          c < cuts ? d.device.faults.ops + random(ops) : Number.POSITIVE_INFINITY;
        try {
          await d.device.runToIdle();
          done = true;
        } catch (error) {
          if ((error as Error).name !== 'PowerCut') throw error;
          happened += 1;
          d.device.boot.powerOn();
        }
      }
      if (!done) await d.device.runToIdle();
      expect(await outcome(d.device, d.actionId), `run ${run}`).toEqual(EXPECTED[scenario]);
      expect(
        d.device.boot.bootLog.every((b) => b.valid),
        `run ${run}`,
      ).toBe(true);
    }
    // Most planned cuts land inside the update (a late one may fall after its end).
    expect(happened).toBeGreaterThan(12);
  });
});

describe('named fault scenarios', () => {
  // Cut at the first durable operation made while in `state`; the agent must resume there.
  async function killedIn(state: AgentState, scenario: Scenario) {
    const probe = device(scenario);
    const states = statesAtOps(probe.device);
    await probe.device.runToIdle();
    const index = states.indexOf(state);
    expect(index, `no durable operation in ${state}`).toBeGreaterThanOrEqual(0);
    const run = device(scenario);
    run.device.faults.cutAt = index + 1;
    const before = run.device.notices.length;
    await run.device.runThroughCuts();
    return { run, statuses: server.statuses(run.actionId), before };
  }

  it('killed-in-Download resumes the download from its checkpoint and succeeds', async () => {
    const { run, statuses } = await killedIn('Download', 'good');
    expect(run.device.boot.booted).toBe('b');
    expect(statuses).toEqual(['downloading', 'downloaded', 'installing', 'rebooting', 'success']);
  });

  it('killed-in-ArtifactCommit confirms after the restart and reports success once', async () => {
    const { run, statuses } = await killedIn('ArtifactCommit', 'good');
    expect(run.device.boot.trial).toBe(false);
    expect(run.device.boot.booted).toBe('b');
    expect(statuses.filter((s) => s === 'success')).toHaveLength(1);
  });

  it('killed-in-ArtifactRollback still returns to the old image and reports the health failure', async () => {
    const { run, statuses } = await killedIn('ArtifactRollback', 'unhealthy');
    expect(run.device.boot.booted).toBe('a');
    expect(statuses.at(-1)).toBe('failure');
    expect(server.final(run.actionId)?.code).toBe('AGENT_HEALTH_CHECK_FAILED');
    expect(run.device.chain()).toContain('ArtifactRollbackReboot');
  });

  it('killed-in-ArtifactFailure clears the failed update and reports it once', async () => {
    const { run, statuses } = await killedIn('ArtifactFailure', 'crash-on-boot');
    expect(run.device.boot.booted).toBe('a');
    expect(statuses.filter((s) => s === 'failure')).toHaveLength(1);
  });
});
