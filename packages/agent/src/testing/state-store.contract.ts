import assert from 'node:assert/strict';
import type { StateStore } from '../ports/state-store.js';
import type { ContractRunner } from './contract-runner.js';

/** A store and a way to open the same storage again (what a reboot does). */
export interface StateStoreSubject {
  readonly store: StateStore;
  /** A new instance over the same storage. */
  reopen(): Promise<StateStore>;
}

/** What an implementation hands the {@link runStateStoreContract} suite. */
export interface StateStoreContractOptions extends ContractRunner {
  readonly name: string;
  /** A store over fresh, empty storage. */
  create(): Promise<StateStoreSubject>;
  /** Largest record the implementation holds (default 4096: "a few KiB" in the port). */
  readonly capacity?: number;
}

/**
 * The behaviour every {@link StateStore} shares (file, flash and in-memory stores run it): null
 * before the first save, the last record after any number of saves, kept across a reopen, and
 * records that are copies (neither the caller's buffer nor a loaded one aliases the stored bytes).
 * Atomicity under power cuts is each implementation's own test (it needs its own fault model).
 */
export function runStateStoreContract(options: StateStoreContractOptions): void {
  const { describe, it } = options;
  const capacity = options.capacity ?? 4096;

  describe(`StateStore contract: ${options.name}`, () => {
    it('loads null before anything was saved', async () => {
      const { store } = await options.create();
      assert.equal(await store.load(), null);
    });

    it('loads the last record saved, whatever the sizes before it', async () => {
      const { store } = await options.create();
      for (const size of [10, capacity, 0, 300, 1, capacity - 1, 77]) {
        const record = bytesOf(size, size + 1);
        await store.save(record);
        assert.deepEqual(await store.load(), record);
      }
    });

    it('keeps the record across a reopen of the same storage', async () => {
      const subject = await options.create();
      await subject.store.save(bytesOf(100, 1));
      await subject.store.save(bytesOf(200, 2));
      const again = await subject.reopen();
      assert.deepEqual(await again.load(), bytesOf(200, 2));
    });

    it('stores a copy: changing the saved or the loaded buffer changes nothing', async () => {
      const { store } = await options.create();
      const record = bytesOf(64, 9);
      await store.save(record);
      record.fill(0);
      const loaded = (await store.load())!;
      assert.deepEqual(loaded, bytesOf(64, 9));
      loaded.fill(1);
      assert.deepEqual(await store.load(), bytesOf(64, 9));
    });
  });
}

function bytesOf(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 7 + seed) & 0xff);
}
