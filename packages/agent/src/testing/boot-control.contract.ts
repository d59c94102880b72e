import assert from 'node:assert/strict';
import type { BootControl } from '../ports/boot-control.js';
import type { Slot } from '../ports/slot.js';
import type { ContractRunner } from './contract-runner.js';

/** A device around a {@link BootControl}: what the contract needs besides the port. */
export interface BootControlSubject {
  /** The port as the application sees it after the latest boot. */
  readonly control: BootControl;
  /** Writes a valid new image into `slot` (what the agent installs there before `markPending`). */
  install(slot: Slot): Promise<void>;
  /** A power cycle: the platform's bootloader runs; returns the port of the new boot. */
  reboot(): Promise<BootControl>;
}

/** What an implementation hands the {@link runBootControlContract} suite. */
export interface BootControlContractOptions extends ContractRunner {
  readonly name: string;
  /** A factory-fresh device: a confirmed image in the first slot, nothing pending. */
  create(): Promise<BootControlSubject>;
}

/** Reboots an unconfirmed trial image may take before the platform reverts it. */
const MAX_TRIAL_BOOTS = 5;

/**
 * The behaviour every {@link BootControl} shares (the JSON-file adapter, the simulator's MCUboot
 * adapters, the in-memory fake): the update slot is never the running one, a pending mark is
 * durable, idempotent and clearable, a marked image boots on trial, a confirmed one stays, an
 * unconfirmed one is reverted (at once after `reject()`).
 */
export function runBootControlContract(options: BootControlContractOptions): void {
  const { describe, it } = options;

  /** Installs into the update slot, marks it and reboots; returns the slot name and new port. */
  async function trial(
    subject: BootControlSubject,
  ): Promise<{ target: string; control: BootControl }> {
    const slot = await subject.control.updateSlot();
    await subject.install(slot);
    await subject.control.markPending(slot.name);
    return { target: slot.name, control: await subject.reboot() };
  }

  describe(`BootControl contract: ${options.name}`, () => {
    it('starts confirmed on one slot with nothing pending', async () => {
      const { control } = await options.create();
      const status = await control.status();
      assert.equal(status.trial, false);
      assert.equal(status.pending, null);
      assert.equal(status.lastFailure, null);
    });

    it('offers an update slot that is not the booted one, the same on every call', async () => {
      const { control } = await options.create();
      const { booted } = await control.status();
      const first = await control.updateSlot();
      assert.notEqual(first.name, booted);
      assert.equal((await control.updateSlot()).name, first.name);
      assert.equal((await control.slot(first.name)).name, first.name);
      assert.equal((await control.slot(booted)).name, booted);
    });

    it('marks a slot pending idempotently and clears the mark', async () => {
      const subject = await options.create();
      const slot = await subject.control.updateSlot();
      await subject.install(slot);
      await subject.control.markPending(slot.name);
      await subject.control.markPending(slot.name);
      assert.equal((await subject.control.status()).pending, slot.name);
      await subject.control.clearPending();
      assert.equal((await subject.control.status()).pending, null);
      // Cleared means cleared: the next boot runs the old image.
      const before = (await subject.control.status()).booted;
      const after = await (await subject.reboot()).status();
      assert.equal(after.booted, before);
      assert.equal(after.trial, false);
    });

    it('boots a pending image on trial, and keeps it once confirmed', async () => {
      const subject = await options.create();
      const { target, control } = await trial(subject);
      let status = await control.status();
      assert.equal(status.booted, target);
      assert.equal(status.trial, true);
      assert.equal(status.pending, null);
      await control.confirm();
      await control.confirm();
      assert.equal((await control.status()).trial, false);
      status = await (await subject.reboot()).status();
      assert.deepEqual([status.booted, status.trial], [target, false]);
    });

    it('reverts an image that is never confirmed', async () => {
      const subject = await options.create();
      const old = (await subject.control.status()).booted;
      let { control } = await trial(subject);
      for (let i = 0; i < MAX_TRIAL_BOOTS && (await control.status()).booted !== old; i++) {
        control = await subject.reboot();
      }
      const status = await control.status();
      assert.equal(status.booted, old);
      assert.equal(status.trial, false);
    });

    it('reverts at the next boot after reject(), when it has one', async () => {
      const subject = await options.create();
      const old = (await subject.control.status()).booted;
      const { control } = await trial(subject);
      if (control.reject === undefined) return;
      await control.reject();
      const status = await (await subject.reboot()).status();
      assert.equal(status.booted, old);
      assert.equal(status.trial, false);
    });
  });
}
