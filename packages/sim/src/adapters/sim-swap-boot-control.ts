import type { BootControl, BootStatus, Slot } from '@updraft/agent';
import { BugError } from '@updraft/core';
import type { Bootloader, BootResult } from '../bootloader.js';
import type { ImageSlot } from '../device-layout.js';
import { SimError } from '../errors.js';
import { imageTag, readTrailer, rejectionValue, TRAILER_RECORDS } from '../slot-trailer.js';
import { verifyImage } from '../verify-image.js';
import { SimSlot } from './sim-slot.js';

/**
 * {@link BootControl} for the swap layout (MCUboot's swap-scratch): the image always runs from
 * the primary slot and updates go to the secondary. The agent thinks in A/B slots, so the two
 * images carry logical names `a` and `b` that travel with them: the primary holds `a` after an
 * even number of completed swaps, `b` after an odd one. An update written to `b` that the
 * bootloader swapped in therefore shows up as "booted b", and a revert as "booted a".
 */
export class SimSwapBootControl implements BootControl {
  constructor(
    private readonly bootloader: Bootloader,
    private readonly booted: Extract<BootResult, { ok: true }>,
    private readonly requestReboot: () => void,
  ) {}

  async status(): Promise<BootStatus> {
    const [primary, secondary] = this.physical();
    const log = trailerOf(primary);
    const running = readTrailer(log, tagOf(primary));
    const other = readTrailer(log, tagOf(secondary));
    const pending =
      other.magic === 'good' &&
      !other.imageOk &&
      !other.rejected &&
      !other.abandoned &&
      !other.copyDone;
    return {
      booted: this.names().primary,
      trial: this.booted.trial && !running.imageOk,
      pending: pending ? this.names().secondary : null,
      lastFailure: other.rejected,
    };
  }

  async updateSlot(): Promise<Slot> {
    return this.slot(this.names().secondary);
  }

  async slot(name: string): Promise<Slot> {
    const [primary, secondary] = this.physical();
    const { primary: p, secondary: s } = this.names();
    if (name === p) return new SimSlot(p, primary.image);
    if (name === s) return new SimSlot(s, secondary.image);
    throw new BugError(`no slot named ${name}`);
  }

  async markPending(slotName: string): Promise<void> {
    const [, secondary] = this.physical();
    const names = this.names();
    if (slotName === names.primary) {
      if (this.booted.trial) return; // fulfilled already: the swap happened before the agent saved
      throw new BugError(`cannot mark the running slot ${slotName}`);
    }
    if (slotName !== names.secondary) throw new BugError(`no slot named ${slotName}`);
    const verdict = verifyImage({
      read: (o, l) => secondary.image.read(o, l),
      limit: secondary.image.size,
      trustedKeys: this.bootloader.options.trustedKeys,
      minSecurityCounter: this.bootloader.securityCounter(),
    });
    if (!verdict.ok)
      throw new SimError(verdict.code, `slot ${slotName} would not boot: ${verdict.reason}`);
    const tag = tagOf(secondary);
    const state = readTrailer(trailerOf(secondary), tag);
    // The shared log is never erased here (it holds the running image's facts): an image refused
    // once stays refused, so the same bytes cannot be retried (documented limit).
    if (state.rejected)
      throw new SimError(state.rejected, `image in ${slotName} was refused before`);
    if (state.magic === 'good') return;
    if (!trailerOf(secondary).append(TRAILER_RECORDS.MAGIC, tag, 0)) {
      throw new BugError('swap trailer is full');
    }
  }

  async clearPending(): Promise<void> {
    const [, secondary] = this.physical();
    if ((await this.status()).pending === null) return;
    trailerOf(secondary).append(TRAILER_RECORDS.ABANDONED, tagOf(secondary), 0);
  }

  async confirm(): Promise<void> {
    const [primary] = this.physical();
    const tag = tagOf(primary);
    if (readTrailer(trailerOf(primary), tag).imageOk) return;
    if (!trailerOf(primary).append(TRAILER_RECORDS.IMAGE_OK, tag, 0)) {
      throw new BugError('swap trailer is full');
    }
  }

  /** The running trial image failed: the next boot swaps the previous image back at once. */
  async reject(): Promise<void> {
    const [primary] = this.physical();
    if (!this.booted.trial) return;
    const tag = tagOf(primary);
    if (readTrailer(trailerOf(primary), tag).rejected) return;
    trailerOf(primary).append(
      TRAILER_RECORDS.REJECTED,
      tag,
      rejectionValue('SIM_BOOT_TRIAL_REVERTED'),
    );
  }

  async reboot(): Promise<void> {
    this.requestReboot();
  }

  private names(): { primary: string; secondary: string } {
    return this.bootloader.completedSwaps() % 2 === 0
      ? { primary: 'a', secondary: 'b' }
      : { primary: 'b', secondary: 'a' };
  }

  private physical(): [ImageSlot, ImageSlot] {
    const [primary, secondary] = this.bootloader.layout.slots;
    if (!primary || !secondary || !this.bootloader.layout.swap) {
      throw new BugError('SimSwapBootControl needs the swap layout');
    }
    return [primary, secondary];
  }
}

function trailerOf(slot: ImageSlot) {
  if (!slot.trailer) throw new BugError(`slot ${slot.name} has no trailer`);
  return slot.trailer;
}

function tagOf(slot: ImageSlot): number {
  return imageTag((o, l) => slot.image.read(o, l), slot.image.size);
}
