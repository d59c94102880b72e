import type { BootControl, BootStatus, Slot } from '@updraft/agent';
import { BugError } from '@updraft/core';
import type { Bootloader, BootResult } from '../bootloader.js';
import type { ImageSlot } from '../device-layout.js';
import { SimError } from '../errors.js';
import { imageTag, readTrailer, rejectionValue, TRAILER_RECORDS } from '../slot-trailer.js';
import { verifyImage } from '../verify-image.js';
import { SimSlot } from './sim-slot.js';

/**
 * The agent's {@link BootControl} port for a simulated device: reads what the bootloader did on
 * this boot (held in RAM, as MCUboot hands boot info to the application) and writes the slot
 * trailers the bootloader decides from. Every trailer change is one appended record, so each
 * call is power-safe and idempotent.
 */
export class SimBootControl implements BootControl {
  constructor(
    private readonly bootloader: Bootloader,
    private readonly booted: Extract<BootResult, { ok: true }>,
    private readonly requestReboot: () => void,
  ) {}

  async status(): Promise<BootStatus> {
    const booted = this.imageSlot(this.booted.slot);
    const bootedState = booted.trailer ? readTrailer(booted.trailer, tagOf(booted)) : null;
    let pending: string | null = null;
    let lastFailure: string | null = null;
    for (const slot of this.bootloader.layout.slots) {
      if (slot.name === this.booted.slot || !slot.trailer) continue;
      const t = readTrailer(slot.trailer, tagOf(slot));
      if (t.rejected) lastFailure = t.rejected;
      else if (t.magic === 'good' && !t.imageOk && !t.abandoned && !t.copyDone) pending = slot.name;
    }
    return {
      booted: this.booted.slot,
      trial: this.booted.trial && !(bootedState?.imageOk ?? true),
      pending,
      lastFailure,
    };
  }

  async updateSlot(): Promise<Slot> {
    const name = this.updateSlotName();
    return this.slot(name);
  }

  async slot(name: string): Promise<Slot> {
    const s = this.imageSlot(name);
    return new SimSlot(s.name, s.image);
  }

  async markPending(slotName: string): Promise<void> {
    if (slotName === this.booted.slot) {
      // A cut between marking and the agent's next journal save boots the trial already: the
      // request is fulfilled, so repeating it is a no-op. Marking a confirmed running image is a bug.
      if (this.booted.trial) return;
      throw new BugError(`cannot mark the booted slot ${slotName}`);
    }
    const slot = this.imageSlot(slotName);
    if (!slot.trailer) throw new BugError(`slot ${slotName} has no trailer`);
    // Second line of defence after the agent's read-back: never request a boot that will fail.
    const verdict = verifyImage({
      read: (o, l) => slot.image.read(o, l),
      limit: slot.image.size,
      trustedKeys: this.bootloader.options.trustedKeys,
      minSecurityCounter: this.bootloader.securityCounter(),
    });
    if (!verdict.ok) {
      throw new SimError(verdict.code, `slot ${slotName} would not boot: ${verdict.reason}`);
    }
    const tag = tagOf(slot);
    const state = readTrailer(slot.trailer, tag);
    if (state.clean) return;
    if (!slot.trailer.entries().every((e) => e.kind === 'erased')) slot.trailer.reset();
    slot.trailer.append(TRAILER_RECORDS.MAGIC, tag, 0);
  }

  async clearPending(): Promise<void> {
    const { pending } = await this.status();
    if (pending === null) return;
    const slot = this.imageSlot(pending);
    slot.trailer?.append(TRAILER_RECORDS.ABANDONED, tagOf(slot), 0);
  }

  async confirm(): Promise<void> {
    const slot = this.imageSlot(this.booted.slot);
    if (!slot.trailer) return; // the factory image is confirmed by construction
    const tag = tagOf(slot);
    if (readTrailer(slot.trailer, tag).imageOk) return;
    if (!slot.trailer.append(TRAILER_RECORDS.IMAGE_OK, tag, 0)) {
      throw new BugError(`trailer of slot ${slot.name} is full`);
    }
  }

  /** The running trial image failed: make the next boot revert at once. */
  async reject(): Promise<void> {
    const slot = this.imageSlot(this.booted.slot);
    if (!slot.trailer || !this.booted.trial) return;
    const tag = tagOf(slot);
    if (readTrailer(slot.trailer, tag).rejected) return;
    slot.trailer.append(TRAILER_RECORDS.REJECTED, tag, rejectionValue('SIM_BOOT_TRIAL_REVERTED'));
  }

  async reboot(): Promise<void> {
    this.requestReboot();
  }

  private updateSlotName(): string {
    const [a, b] = this.bootloader.layout.slots;
    if (!a || !b) throw new BugError('layout needs two slots');
    return this.booted.slot === a.name ? b.name : a.name;
  }

  private imageSlot(name: string): ImageSlot {
    const { slots, factory } = this.bootloader.layout;
    const found = [...slots, ...(factory ? [factory] : [])].find((s) => s.name === name);
    if (!found) throw new BugError(`no slot named ${name}`);
    return found;
  }
}

function tagOf(slot: ImageSlot): number {
  return imageTag((o, l) => slot.image.read(o, l), slot.image.size);
}
