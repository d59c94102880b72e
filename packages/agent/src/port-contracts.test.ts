import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { FileSlot } from './adapters/file/file-slot.js';
import { FileStateStore } from './adapters/file/file-state-store.js';
import { JsonBootControl } from './adapters/file/json-boot-control.js';
import type { Slot } from './ports/slot.js';
import { runBootControlContract } from './testing/boot-control.contract.js';
import { MemoryBootControl, MemorySlot, MemoryStateStore } from './testing/fakes.js';
import { runSlotContract } from './testing/slot.contract.js';
import { runStateStoreContract } from './testing/state-store.contract.js';

// The agent's ports, each with one contract suite, run over the file adapters and the in-memory
// fakes here, and over the simulator's adapters in packages/sim/src/adapters/port-contracts.test.ts.

const dirs: string[] = [];
async function freshDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'updraft-contract-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

const image = (seed: number) => Uint8Array.from({ length: 1000 }, (_, i) => (i * seed) & 0xff);

async function writeImage(slot: Slot, bytes: Uint8Array): Promise<void> {
  const [first] = slot.sectors;
  await slot.erase(first!.offset, first!.size);
  await slot.write(0, bytes);
}

runSlotContract({
  describe,
  it,
  name: 'FileSlot',
  erases: false,
  create: async () =>
    FileSlot.open({
      name: 'a',
      path: join(await freshDir(), 'a.img'),
      size: 12_288,
      sectorSize: 4096,
    }),
  close: (slot) => (slot as FileSlot).close(),
});

runSlotContract({
  describe,
  it,
  name: 'MemorySlot (fake)',
  create: async () => new MemorySlot('a', 16_384, 4096, 8),
});

runStateStoreContract({
  describe,
  it,
  name: 'FileStateStore',
  create: async () => {
    const path = join(await freshDir(), 'journal');
    return { store: new FileStateStore(path), reopen: async () => new FileStateStore(path) };
  },
});

runStateStoreContract({
  describe,
  it,
  name: 'MemoryStateStore (fake)',
  create: async () => {
    const store = new MemoryStateStore();
    return { store, reopen: async () => store };
  },
});

runBootControlContract({
  describe,
  it,
  name: 'JsonBootControl',
  create: async () => {
    const dir = await freshDir();
    const open = async () => {
      const slots = [
        await FileSlot.open({ name: 'a', path: join(dir, 'a.img'), size: 8192, sectorSize: 4096 }),
        await FileSlot.open({ name: 'b', path: join(dir, 'b.img'), size: 8192, sectorSize: 4096 }),
      ] as const;
      const control = await JsonBootControl.open({ statePath: join(dir, 'boot.json'), slots });
      await control.boot();
      return control;
    };
    return {
      control: await open(),
      install: (slot) => writeImage(slot, image(7)),
      // A reboot reads the state file afresh: what survives is what was written.
      reboot: open,
    };
  },
});

runBootControlContract({
  describe,
  it,
  name: 'MemoryBootControl (fake)',
  create: async () => {
    const control = new MemoryBootControl({
      a: new MemorySlot('a', 8192, 4096),
      b: new MemorySlot('b', 8192, 4096),
    });
    return {
      control,
      install: (slot) => writeImage(slot, image(7)),
      reboot: async () => {
        control.powerOn();
        return control;
      },
    };
  },
});
