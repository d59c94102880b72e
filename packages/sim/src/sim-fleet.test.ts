import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryTransport } from './adapters/memory-transport.js';
import { AgentApplication } from './agent-application.js';
import { buildImage } from './build-image.js';
import { defaultLayoutSpec } from './device-layout.js';
import { generateTestKey } from './power-cut-sweep.js';
import { buildReleaseEnvelope, MAIN_COMPONENT, releaseVerifier } from './release-envelope.js';
import { SimFleet } from './sim-fleet.js';

const key = generateTestKey();
const v1 = buildImage({
  version: '1.0.0',
  sequenceNumber: 1,
  behaviour: 'healthy',
  size: 2000,
  key: key.signing,
});

async function fleet(devices: number, behaviour: 'healthy' | 'crash-on-boot') {
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
  const f = new SimFleet({
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
      return new AgentApplication({
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
    },
  });
  return { f, transports };
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
});
