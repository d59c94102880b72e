import assert from 'node:assert/strict';
import type { Slot } from '../ports/slot.js';
import type { ContractRunner } from './contract-runner.js';

/** What an implementation hands the {@link runSlotContract} suite. */
export interface SlotContractOptions extends ContractRunner {
  /** Implementation name for the suite's title. */
  readonly name: string;
  /** A fresh slot of at least two sectors (new storage each call). */
  create(): Promise<Slot>;
  /**
   * Whether `erase` resets bytes to `erasedValue` (flash does; a file or block device may leave
   * them, which the port allows).
   */
  readonly erases?: boolean;
  /** Releases what `create` opened (files). */
  close?(slot: Slot): Promise<void>;
}

/**
 * The behaviour every {@link Slot} implementation shares (file, simulator and in-memory fakes run
 * it): geometry, erase-then-write round trips, independence of sectors, and misuse refused.
 *
 * @example
 * runSlotContract({ describe, it, name: 'FileSlot', create: () => FileSlot.open({ … }), erases: false });
 */
export function runSlotContract(options: SlotContractOptions): void {
  const { describe, it } = options;
  const erases = options.erases ?? true;
  const withSlot = (body: (slot: Slot) => Promise<void>) => async () => {
    const slot = await options.create();
    try {
      await body(slot);
    } finally {
      await options.close?.(slot);
    }
  };

  describe(`Slot contract: ${options.name}`, () => {
    it(
      'describes sectors that cover [0, size) in order, without gaps',
      withSlot(async (slot) => {
        assert.ok(slot.size > 0 && slot.sectors.length >= 2);
        let at = 0;
        for (const s of slot.sectors) {
          assert.equal(s.offset, at);
          assert.ok(s.size > 0 && s.size % slot.writeAlign === 0);
          at += s.size;
        }
        assert.equal(at, slot.size);
        assert.ok(slot.erasedValue === 0xff || slot.erasedValue === 0x00);
      }),
    );

    it(
      'reads back what was written into an erased sector',
      withSlot(async (slot) => {
        const [first] = slot.sectors;
        await slot.erase(first!.offset, first!.size);
        if (erases) {
          const erased = await slot.read(first!.offset, first!.size);
          assert.ok(erased.every((b) => b === slot.erasedValue));
        }
        const data = pattern(first!.size, 3);
        await slot.write(first!.offset, data);
        await slot.sync?.();
        assert.deepEqual(await slot.read(first!.offset, first!.size), data);
      }),
    );

    it(
      'writes a sector without touching its neighbours, and rewrites after an erase',
      withSlot(async (slot) => {
        const [s0, s1] = slot.sectors;
        await slot.erase(s0!.offset, s0!.size + s1!.size);
        const a = pattern(s0!.size, 5);
        const b = pattern(s1!.size, 7);
        await slot.write(s0!.offset, a);
        await slot.write(s1!.offset, b);
        assert.deepEqual(await slot.read(s0!.offset, s0!.size), a);
        await slot.erase(s1!.offset, s1!.size);
        const c = pattern(s1!.size, 11);
        await slot.write(s1!.offset, c);
        assert.deepEqual(await slot.read(s0!.offset, s0!.size), a);
        assert.deepEqual(await slot.read(s1!.offset, s1!.size), c);
      }),
    );

    it(
      'reaches the last byte of the slot with aligned writes',
      withSlot(async (slot) => {
        const last = slot.sectors.at(-1)!;
        await slot.erase(last.offset, last.size);
        const tail = pattern(slot.writeAlign * 4, 13);
        await slot.write(slot.size - tail.length, tail);
        assert.deepEqual(await slot.read(slot.size - tail.length, tail.length), tail);
      }),
    );

    it(
      'refuses reads and writes past its size and erases off sector boundaries',
      withSlot(async (slot) => {
        await assert.rejects(slot.read(slot.size - 1, 2));
        await assert.rejects(slot.write(slot.size, new Uint8Array(slot.writeAlign)));
        const [first] = slot.sectors;
        await assert.rejects(slot.erase(first!.offset + slot.writeAlign, first!.size));
        await assert.rejects(slot.erase(first!.offset, first!.size - slot.writeAlign));
      }),
    );

    if ((options.erases ?? true) === true) {
      it(
        'refuses a write to memory that was not erased',
        withSlot(async (slot) => {
          const [first] = slot.sectors;
          await slot.erase(first!.offset, first!.size);
          await slot.write(first!.offset, pattern(slot.writeAlign, 1));
          await assert.rejects(slot.write(first!.offset, pattern(slot.writeAlign, 2)));
        }),
      );
    }
  });
}

/** Deterministic bytes that differ per seed. */
function pattern(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * seed + seed * 31) & 0xff);
}
