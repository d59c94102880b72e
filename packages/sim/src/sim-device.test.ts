import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryTransport, type WireFaults } from './adapters/memory-transport.js';
import { AgentApplication } from './agent-application.js';
import { buildImage } from './build-image.js';
import { defaultLayoutSpec, type LayoutName } from './device-layout.js';
import { APP_BEHAVIOURS, type AppBehaviour } from './image-format.js';
import { generateTestKey } from './power-cut-sweep.js';
import { buildReleaseEnvelope, MAIN_COMPONENT, releaseVerifier } from './release-envelope.js';
import { SimDevice } from './sim-device.js';

const key = generateTestKey();
const oldImage = buildImage({
  version: '1.0.0',
  sequenceNumber: 1,
  behaviour: 'healthy',
  size: 5000,
  key: key.signing,
});

// Release 1.1.0 for each scripted behaviour, in a SUIT envelope signed by core.
const releases = new Map(
  await Promise.all(
    APP_BEHAVIOURS.map(async (behaviour) => {
      const image = buildImage({
        version: '1.1.0',
        sequenceNumber: 2,
        behaviour,
        size: 5200,
        key: key.signing,
      });
      const envelope = await buildReleaseEnvelope(
        { sequenceNumber: 2, components: [{ id: MAIN_COMPONENT, image }] },
        key.signing,
      );
      return [behaviour, { image, envelope }] as const;
    }),
  ),
);

function agentDevice(
  behaviour: AppBehaviour,
  opts: { layout?: LayoutName; wire?: WireFaults } = {},
) {
  const release = releases.get(behaviour);
  if (!release) throw new Error(`no release for ${behaviour}`);
  const next = release.image;
  const transport = new MemoryTransport(
    {
      actionId: 'act-1',
      version: '1.1.0',
      sequenceNumber: 2,
      envelope: release.envelope,
      payloads: [next],
    },
    opts.wire,
  );
  const device = new SimDevice({
    layout: defaultLayoutSpec(opts.layout ?? 'ab-xip'),
    trustedKeys: [key.trusted],
    initialImage: oldImage,
    application: new AgentApplication({
      transport,
      verifier: releaseVerifier({ trustedKeys: [key.trusted] }),
      initialComponents: [
        {
          id: MAIN_COMPONENT,
          version: '1.0.0',
          sequenceNumber: 1,
          digest: createHash('sha256').update(oldImage).digest('hex'),
        },
      ],
    }),
  });
  const slotA = () =>
    device.flash.snapshot(device.layout.slots[0]!.image.offset, device.layout.slots[0]!.image.size);
  return { device, transport, next, slotA };
}

describe('simulated device running the real agent', () => {
  it('installs a good release: trial boot, confirm, success, with a readable log', async () => {
    const { device, transport } = agentDevice('healthy');
    expect(await device.runUntilIdle()).toBe('idle');
    expect(device.running).toMatchObject({ slot: 'b', image: { versionString: '1.1.0' } });
    expect(transport.outcome?.status).toBe('success');
    const log = device.logLines.join('\n');
    expect(log).toContain('slot=b swap=test version=1.1.0 seq=2 (trial)');
    expect(log).toContain('report success');
    // The next boot keeps the confirmed image.
    expect(await device.runUntilIdle()).toBe('idle');
    expect(device.running).toMatchObject({ slot: 'b', trial: false, swapType: 'none' });
  });

  it.each([
    ['crash-on-boot', 'SIM_BOOT_TRIAL_REVERTED'],
    ['hangs', 'SIM_APP_HUNG'],
    ['fails-health-check', 'AGENT_HEALTH_CHECK_FAILED'],
  ] as const)('reverts a release whose app %s and reports %s', async (behaviour, code) => {
    const { device, transport, slotA } = agentDevice(behaviour);
    const before = slotA();
    expect(await device.runUntilIdle()).toBe('idle');
    expect(device.running).toMatchObject({ slot: 'a', image: { versionString: '1.0.0' } });
    expect(transport.outcome).toMatchObject({ status: 'failure', code });
    expect(slotA()).toEqual(before);
  });

  it('falls back to the factory image when both slots are unusable (ab-factory)', async () => {
    const { device } = agentDevice('healthy', { layout: 'ab-factory' });
    device.flash.provision(
      device.layout.factory!.image.offset,
      buildImage({
        version: '0.9.0',
        sequenceNumber: 0,
        behaviour: 'healthy',
        size: 1000,
        key: key.signing,
      }),
    );
    device.layout.slots[0]!.image.erase();
    expect(await device.runUntilIdle()).toBe('idle');
    expect(device.boots[0]?.result).toMatchObject({ ok: true, slot: 'factory' });
  });
});

describe('attacks and faults at the flash level', () => {
  it('catches a bit flip in the inactive slot after writing (read-back or bootloader)', async () => {
    const { device, transport, slotA } = agentDevice('healthy');
    const b = device.layout.slots[1]!;
    let flipped = false;
    // Flip a stored bit of slot b when the first trailer record is appended (after the write).
    device.flash.observe((op) => {
      const inTrailer =
        op.offset >= b.trailer!.area.offset && op.offset < b.trailer!.area.offset + 512;
      if (!flipped && op.kind === 'write' && inTrailer) {
        device.flash.flipBit(b.image.offset + 2000, 5);
        flipped = true;
      }
    });
    const before = slotA();
    expect(await device.runUntilIdle()).toBe('idle');
    expect(flipped).toBe(true);
    expect(device.boots.every((x) => x.oracleVerified)).toBe(true);
    expect(device.running?.image.versionString).toBe('1.0.0');
    expect(transport.outcome).toMatchObject({
      status: 'failure',
      code: 'SIM_IMAGE_DIGEST_MISMATCH',
    });
    expect(slotA()).toEqual(before);
  });

  it('catches a bit flip in the slot before the agent reads it back', async () => {
    const { device, transport } = agentDevice('healthy');
    const b = device.layout.slots[1]!;
    let writes = 0;
    let flipped = false;
    device.flash.observe((op) => {
      if (
        op.kind !== 'write' ||
        op.offset < b.image.offset ||
        op.offset >= b.image.offset + b.image.size
      )
        return;
      writes++;
      // After the header sector is written, corrupt it while the rest is still being written.
      if (!flipped && writes === 3) {
        device.flash.flipBit(b.image.offset + 40, 0);
        flipped = true;
      }
    });
    expect(await device.runUntilIdle()).toBe('idle');
    expect(flipped).toBe(true);
    expect(device.boots.every((x) => x.oracleVerified)).toBe(true);
    expect(device.running?.image.versionString).toBe('1.0.0');
    expect(transport.outcome).toMatchObject({ status: 'failure', code: 'AGENT_READBACK_MISMATCH' });
  });

  it('a bad region that drops writes never gets a broken image booted', async () => {
    const { device, transport, slotA } = agentDevice('healthy');
    const b = device.layout.slots[1]!;
    device.flash.setBadRegions([{ offset: b.image.offset + 1024, length: 64 }]);
    const before = slotA();
    expect(await device.runUntilIdle()).toBe('idle');
    expect(device.running?.image.versionString).toBe('1.0.0');
    expect(
      device.boots.every((x) => x.oracleVerified && x.result.ok && x.result.slot === 'a'),
    ).toBe(true);
    expect(transport.outcome).toMatchObject({ status: 'failure', code: 'AGENT_READBACK_MISMATCH' });
    expect(slotA()).toEqual(before);
  });

  it('a bit flip on the wire is caught by the streaming digest; the active slot is untouched', async () => {
    const { device, transport, slotA } = agentDevice('healthy', {
      wire: { bitFlipProbability: 1 },
    });
    const before = slotA();
    expect(await device.runUntilIdle()).toBe('idle');
    expect(device.running?.image.versionString).toBe('1.0.0');
    expect(transport.outcome?.status).toBe('failure');
    expect(transport.outcome?.code).toBe('MANIFEST_DIGEST_MISMATCH');
    expect(slotA()).toEqual(before);
  });
});

describe('a device that lives across runs', () => {
  it('resumes from saved flash: the confirmed update stays, nothing is provisioned again', async () => {
    const first = agentDevice('healthy');
    expect(await first.device.runUntilIdle()).toBe('idle');
    const saved = first.device.flashContents();
    const again = new SimDevice({
      ...first.device.options,
      application: { run: async () => {} },
      restoreFlash: saved,
    });
    expect(await again.runUntilIdle()).toBe('idle');
    expect(again.running).toMatchObject({
      slot: 'b',
      trial: false,
      image: { versionString: '1.1.0' },
    });
  });

  it('refuses saved flash of another size with SIM_CONFIG_INVALID', () => {
    const { device } = agentDevice('healthy');
    expect(() => new SimDevice({ ...device.options, restoreFlash: new Uint8Array(100) })).toThrow(
      expect.objectContaining({ code: 'SIM_CONFIG_INVALID' }),
    );
  });
});
