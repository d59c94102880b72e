import { describe, expect, it } from 'vitest';
import { MemoryStateStore } from '../testing/fakes.js';
import { RollbackFloor } from './rollback-floor.js';

const c = (id: string, sequenceNumber: number) => ({
  id,
  version: `1.${sequenceNumber}.0`,
  sequenceNumber,
  digest: sequenceNumber.toString(16).padStart(64, '0'),
});
const status = (booted: string, trial: boolean) => ({
  booted,
  trial,
  pending: null,
  lastFailure: null,
});

describe('rollback floor', () => {
  it('is monotonic: a lower sequence number never lowers a component', async () => {
    const floor = new RollbackFloor(new MemoryStateStore());
    await floor.raise([c('814100', 5), c('814101', 2)]);
    await floor.raise([c('814100', 3), c('814101', 4)]);
    expect((await floor.load())?.components).toEqual([c('814100', 5), c('814101', 4)]);
  });

  it('promotes a pending entry only when a boot shows its slot confirmed', async () => {
    const floor = new RollbackFloor(new MemoryStateStore());
    await floor.raise([c('814100', 1)]);
    await floor.prepare('b', [c('814100', 2)]);
    let record = (await floor.load())!;
    // Still on trial: undecided, the floor stays where it was.
    record = await floor.settle(record, status('b', true));
    expect(record.components).toEqual([c('814100', 1)]);
    expect(record.pending).not.toBeNull();
    record = await floor.settle(record, status('b', false));
    expect(record).toEqual({ format: 1, components: [c('814100', 2)], pending: null });
    expect(await floor.load()).toEqual(record);
  });

  it('drops a pending entry when the bootloader went back to the other slot', async () => {
    const floor = new RollbackFloor(new MemoryStateStore());
    await floor.raise([c('814100', 1)]);
    await floor.prepare('b', [c('814100', 2)]);
    const record = await floor.settle((await floor.load())!, status('a', false));
    expect(record).toEqual({ format: 1, components: [c('814100', 1)], pending: null });
    expect(await floor.load()).toEqual(record);
  });

  it('refuses a damaged record (AGENT_ROLLBACK_FLOOR_CORRUPT) instead of reading it as empty', async () => {
    const store = new MemoryStateStore();
    const floor = new RollbackFloor(store);
    await floor.raise([c('814100', 7)]);
    const bytes = store.record!.slice();
    bytes[bytes.length - 3]! ^= 0x04;
    store.record = bytes;
    await expect(floor.load()).rejects.toMatchObject({ code: 'AGENT_ROLLBACK_FLOOR_CORRUPT' });
    await expect(floor.raise([c('814100', 8)])).rejects.toMatchObject({
      code: 'AGENT_ROLLBACK_FLOOR_CORRUPT',
    });
  });
});
