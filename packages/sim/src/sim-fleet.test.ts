import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryTransport } from './adapters/memory-transport.js';
import { AgentApplication } from './agent-application.js';
import { buildImage } from './build-image.js';
import { defaultLayoutSpec } from './device-layout.js';
import { generateTestKey } from './power-cut-sweep.js';
import { buildReleaseEnvelope, MAIN_COMPONENT, releaseVerifier } from './release-envelope.js';
import { SimFleet, type SimFleetOptions } from './sim-fleet.js';

const key = generateTestKey();
const v1 = buildImage({
  version: '1.0.0',
  sequenceNumber: 1,
  behaviour: 'healthy',
  size: 2000,
  key: key.signing,
});

async function fleet(
  devices: number,
  behaviour: 'healthy' | 'crash-on-boot',
  extra: Partial<SimFleetOptions> = {},
) {
  const v2 = buildImage({
    version: '1.1.0',
    sequenceNumber: 2,
    behaviour,
    size: 2100,
    key: key.signing,
  });
  const envelope = await buildReleaseEnvelope(
    { sequenceNumber: 2, components: [{ id: MAIN_COMPONENT, image: v2 }] },
    key.signing,
  );
  const transports: MemoryTransport[] = [];
  const apps: AgentApplication[] = [];
  const f = new SimFleet({
    ...extra,
    devices,
    layout: defaultLayoutSpec('ab-factory'),
    trustedKeys: [key.trusted],
    initialImage: v1,
    factoryImage: v1,
    application: (index) => {
      const transport = new MemoryTransport({
        actionId: `act-${index}`,
        version: '1.1.0',
        sequenceNumber: 2,
        envelope,
        payloads: [v2],
      });
      transports.push(transport);
      const app = new AgentApplication({
        transport,
        seed: index + 1,
        verifier: releaseVerifier({ trustedKeys: [key.trusted] }),
        initialComponents: [
          {
            id: MAIN_COMPONENT,
            version: '1.0.0',
            sequenceNumber: 1,
            digest: createHash('sha256').update(v1).digest('hex'),
          },
        ],
      });
      apps.push(app);
      return app;
    },
  });
  return { f, transports, apps };
}

describe('SimFleet', () => {
  it('updates every device of a fleet to a good release', async () => {
    const { f, transports } = await fleet(60, 'healthy');
    const round = await f.runRound();
    expect(round.outcomes).toEqual({ idle: 60, bricked: 0, 'boot-limit': 0, stopped: 0 });
    expect(round.versions).toEqual({ '1.1.0': 60 });
    expect(transports.every((t) => t.outcome?.status === 'success')).toBe(true);
    expect(new Set(f.devices.map((d) => d.id)).size).toBe(60);
  });

  it('reverts every device from a release that crashes on boot, each reporting why', async () => {
    const { f, transports } = await fleet(50, 'crash-on-boot');
    const round = await f.runRound();
    expect(round.versions).toEqual({ '1.0.0': 50 });
    expect(transports.every((t) => t.outcome?.code === 'SIM_BOOT_TRIAL_REVERTED')).toBe(true);
    expect(f.devices[0]?.logLines.join('\n')).toContain('app crashed at boot');
  });

  it('refuses an empty or absurd fleet size', async () => {
    await expect(fleet(0, 'healthy')).rejects.toMatchObject({ code: 'SIM_CONFIG_INVALID' });
  });

  it('with a fault rate, the hash-chosen devices revert a good release and the others install it', async () => {
    const name = (i: number) => `thermo-${i}`;
    const { f, transports, apps } = await fleet(30, 'healthy', {
      name,
      faultRate: 0.4,
      faultSeed: 'rehearsal',
    });
    // The subset, computed independently of the simulator: SHA-256("<seed>:<name>")'s first
    // 48 bits as a fraction of 2^48, below the rate.
    const expected = Array.from({ length: 30 }, (_, i) => i).filter(
      (i) =>
        createHash('sha256')
          .update(`rehearsal:${name(i)}`)
          .digest()
          .readUIntBE(0, 6) /
          2 ** 48 <
        0.4,
    );
    expect(expected.length).toBeGreaterThan(0);
    expect(expected.length).toBeLessThan(30);
    const round = await f.runRound();
    expect(round.faulty).toBe(expected.length);
    const reverted = transports.flatMap((t, i) =>
      t.outcome?.code === 'SIM_BOOT_TRIAL_REVERTED' ? [i] : [],
    );
    expect(reverted).toEqual(expected);
    expect(round.versions).toEqual({ '1.0.0': expected.length, '1.1.0': 30 - expected.length });
    for (const [i, t] of transports.entries()) {
      const faulty = expected.includes(i);
      expect(t.outcome?.status).toBe(faulty ? 'failure' : 'success');
      expect(apps[i]?.tally).toEqual(
        faulty
          ? { installed: 0, failed: 1, reverted: 1 }
          : { installed: 1, failed: 0, reverted: 0 },
      );
    }
    expect(f.devices[expected[0] ?? 0]?.logLines.join('\n')).toContain(
      'device fault: fails every trial boot',
    );
  });

  it('refuses a fault rate outside 0..1', async () => {
    for (const faultRate of [-0.1, 1.5, Number.NaN]) {
      await expect(fleet(2, 'healthy', { faultRate })).rejects.toMatchObject({
        code: 'SIM_CONFIG_INVALID',
      });
    }
  });
});
