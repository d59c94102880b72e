import type { BootControl, Slot } from '@updraft/agent';
import {
  runBootControlContract,
  runSlotContract,
  runStateStoreContract,
} from '@updraft/agent/testing';
import { describe, it } from 'vitest';
import { buildImage } from '../build-image.js';
import { createDeviceLayout, defaultLayoutSpec, LAYOUT_NAMES } from '../device-layout.js';
import { generateTestKey } from '../power-cut-sweep.js';
import { SimDevice } from '../sim-device.js';
import { FlashStateStore } from './flash-state-store.js';
import { SimSlot } from './sim-slot.js';

// The agent's port contract suites (@updraft/agent/testing) over the simulator's adapters: the
// same behaviour the file adapters and the agent's fakes pass.

const key = generateTestKey();
const image = (version: string, sequenceNumber: number) =>
  buildImage({ version, sequenceNumber, behaviour: 'healthy', size: 3000, key: key.signing });

/** Erases the sectors an image needs and writes it, padded to the write alignment. */
async function writeImage(slot: Slot, bytes: Uint8Array): Promise<void> {
  for (const s of slot.sectors) if (s.offset < bytes.length) await slot.erase(s.offset, s.size);
  const padded = new Uint8Array(Math.ceil(bytes.length / slot.writeAlign) * slot.writeAlign);
  padded.fill(slot.erasedValue).set(bytes);
  await slot.write(0, padded);
}

runSlotContract({
  describe,
  it,
  name: 'SimSlot',
  create: async () => {
    const layout = createDeviceLayout(defaultLayoutSpec('ab-xip'));
    return new SimSlot('a', layout.slots[0]!.image);
  },
});

runStateStoreContract({
  describe,
  it,
  name: 'FlashStateStore',
  capacity: defaultLayoutSpec('ab-xip').journalSectorSize - 16,
  create: async () => {
    const layout = createDeviceLayout(defaultLayoutSpec('ab-xip'));
    return {
      store: new FlashStateStore(layout.journal),
      reopen: async () => new FlashStateStore(layout.journal),
    };
  },
});

for (const layout of LAYOUT_NAMES) {
  runBootControlContract({
    describe,
    it,
    name: `${layout === 'swap-scratch' ? 'SimSwapBootControl' : 'SimBootControl'} (${layout})`,
    create: async () => {
      let control: BootControl | null = null;
      const initial = image('1.0.0', 1);
      const device = new SimDevice({
        layout: defaultLayoutSpec(layout),
        trustedKeys: [key.trusted],
        initialImage: initial,
        ...(layout === 'ab-factory' ? { factoryImage: initial } : {}),
        application: {
          run: async (ctx) => {
            control = ctx.bootControl;
          },
        },
      });
      const boot = async (): Promise<BootControl> => {
        control = null;
        await device.runUntilIdle(1);
        if (control === null) throw new Error('the simulated device did not boot');
        return control;
      };
      return {
        control: await boot(),
        install: (slot) => writeImage(slot, image('1.1.0', 2)),
        reboot: boot,
      };
    },
  });
}
