import { type BootMode, decideSlot, type SlotFacts, type SwapType } from './boot-decision-table.js';
import type { DeviceLayout, ImageSlot } from './device-layout.js';
import type { SimErrorCode } from './errors.js';
import type { FlashArea } from './flash-area.js';
import type { ImageInfo, TrustedImageKey } from './image-format.js';
import { imageTag, readTrailer, rejectionValue, TRAILER_RECORDS } from './slot-trailer.js';
import { verifyImage } from './verify-image.js';

/** Why the CPU came out of reset: the bootloader reads it from the reset-cause register. */
export const RESET_CAUSES = ['power-on', 'software', 'watchdog'] as const;
export type ResetCause = (typeof RESET_CAUSES)[number];

/** Record type of the boot-state log: the security counter. */
export const SECURITY_COUNTER_RECORD = 1;

/** Records of the swap-status log (swap layout): tag = swap number, value = step index. */
export const SWAP_RECORDS = { START: 1, STEP: 2, DONE: 3 } as const;

/** Bootloader configuration, fixed at manufacturing. */
export interface BootloaderOptions {
  readonly trustedKeys: readonly TrustedImageKey[];
  /**
   * Trial boots allowed for one image when trials keep being cut by power loss (a trial that
   * ends in a software or watchdog reset reverts at once). Default 3.
   */
  readonly maxTrialBoots?: number;
}

/** The decision for one slot, for logs and tests. */
export interface SlotDecision {
  readonly slot: string;
  readonly facts: SlotFacts;
  readonly row: number;
  readonly swapType: SwapType;
  readonly boot: BootMode;
  readonly refusal: SimErrorCode | null;
  readonly image: ImageInfo | null;
}

/** What one boot did. `ok: false` is a brick: no verified image to run. */
export type BootResult =
  | {
      readonly ok: true;
      readonly slot: string;
      readonly trial: boolean;
      readonly swapType: SwapType;
      readonly image: ImageInfo;
      readonly securityCounter: number;
      readonly decisions: readonly SlotDecision[];
    }
  | {
      readonly ok: false;
      readonly swapType: 'panic';
      readonly code: 'SIM_BOOT_NO_BOOTABLE_IMAGE';
      readonly decisions: readonly SlotDecision[];
    };

/**
 * An MCUboot-like bootloader for A/B slots booted in place (direct-XIP style), optionally with a
 * write-protected factory slot. Every boot it verifies every slot's image (digest, signature with
 * its trusted keys, security counter), decides per slot with {@link decideSlot}, appends the
 * records the decision calls for, and boots the bootable image with the highest security
 * counter (a confirmed image wins a tie). With nothing bootable it boots the factory image;
 * without one it panics. It never boots an image that did not verify on this very boot.
 */
export class Bootloader {
  private readonly maxTrialBoots: number;

  constructor(
    readonly layout: DeviceLayout,
    readonly options: BootloaderOptions,
  ) {
    this.maxTrialBoots = options.maxTrialBoots ?? 3;
  }

  /** The stored security counter: the highest valid record (torn records are skipped). */
  securityCounter(): number {
    let max = 0;
    for (const e of this.layout.bootState.entries()) {
      if (e.kind === 'record' && e.type === SECURITY_COUNTER_RECORD) max = Math.max(max, e.value);
    }
    return max;
  }

  /**
   * Swaps finished so far (swap layout; 0 otherwise). Its parity tells which logical slot name
   * the image in the primary slot carries.
   */
  completedSwaps(): number {
    const done = new Set<number>();
    for (const e of this.layout.swap?.status.entries() ?? []) {
      if (e.kind === 'record' && e.type === SWAP_RECORDS.DONE) done.add(e.tag);
    }
    return done.size;
  }

  /** Runs one boot. Flash writes in here can be cut like any other. */
  boot(resetCause: ResetCause): BootResult {
    // An interrupted swap is finished before anything is decided: images are whole again.
    this.resumeSwap();
    const stored = this.securityCounter();
    const decisions = this.layout.slots.map((slot) => this.decide(slot, stored, resetCause));

    // Refusals first: a cut after them leaves a state the next boot decides the same way.
    for (const [i, d] of decisions.entries()) {
      if (d.refusal && (d.swapType === 'fail' || d.swapType === 'revert')) {
        const slot = this.layout.slots[i];
        const tag = slot ? this.tagOf(slot) : 0;
        slot?.trailer?.append(TRAILER_RECORDS.REJECTED, tag, rejectionValue(d.refusal));
      }
    }

    const candidates = decisions
      .map((d, i) => ({ d, i }))
      .filter(({ d }) => d.boot !== 'no' && d.image !== null)
      .sort(
        (x, y) =>
          (y.d.image?.securityCounter ?? 0) - (x.d.image?.securityCounter ?? 0) ||
          Number(y.d.boot === 'confirmed') - Number(x.d.boot === 'confirmed') ||
          x.i - y.i,
      );
    const chosen = candidates[0];
    const chosenImage = chosen?.d.image;
    if (chosen && chosenImage) {
      let slot = this.layout.slots[chosen.i];
      let { d } = chosen;
      if (this.layout.swap && chosen.i !== 0) {
        // Swap layout: only the primary slot runs, so the chosen image is swapped in first.
        if (!this.startSwap())
          return { ok: false, swapType: 'panic', code: 'SIM_BOOT_NO_BOOTABLE_IMAGE', decisions };
        slot = this.layout.slots[0];
        // Swapping a confirmed image back in is MCUboot's `revert` swap.
        d = {
          ...d,
          slot: slot?.name ?? 'primary',
          swapType: d.boot === 'confirmed' ? 'revert' : d.swapType,
        };
      }
      const tag = slot ? this.tagOf(slot) : 0;
      const row = decideSlot(d.facts).row;
      if (row.writes.includes('copyDone') && !d.facts.copyDone) {
        slot?.trailer?.append(TRAILER_RECORDS.COPY_DONE, tag, 0);
      }
      if (row.writes.includes('attempt')) slot?.trailer?.append(TRAILER_RECORDS.ATTEMPT, tag, 0);
      let counter = stored;
      if (d.boot === 'confirmed' && chosenImage.securityCounter > stored) {
        // Anti-rollback only moves forward on a confirmed image, so a failing trial can be reverted.
        this.layout.bootState.append(SECURITY_COUNTER_RECORD, 0, chosenImage.securityCounter);
        counter = chosenImage.securityCounter;
      }
      return {
        ok: true,
        slot: d.slot,
        trial: d.boot === 'trial',
        swapType: d.swapType,
        image: chosenImage,
        securityCounter: counter,
        decisions,
      };
    }

    const factory = this.layout.factory;
    if (factory) {
      // The factory slot is write-protected and provisioned at manufacturing: it is verified
      // (digest, signature) but exempt from the security counter, or a device that has ever
      // updated could never fall back to it.
      const verdict = verifyImage({
        read: (o, l) => factory.image.read(o, l),
        limit: factory.image.size,
        trustedKeys: this.options.trustedKeys,
      });
      if (verdict.ok) {
        return {
          ok: true,
          slot: factory.name,
          trial: false,
          swapType: 'none',
          image: verdict.info,
          securityCounter: stored,
          decisions,
        };
      }
    }
    return { ok: false, swapType: 'panic', code: 'SIM_BOOT_NO_BOOTABLE_IMAGE', decisions };
  }

  /** Starts a swap of primary and secondary and runs it; false when the status log is full. */
  private startSwap(): boolean {
    const swap = this.layout.swap;
    if (!swap) return false;
    const started = new Set<number>();
    for (const e of swap.status.entries()) {
      if (e.kind === 'record' && e.type === SWAP_RECORDS.START) started.add(e.tag);
    }
    const steps = 3 * (this.layout.slots[0]?.image.sectors().length ?? 0);
    const free = swap.status.entries().filter((e) => e.kind === 'erased').length;
    // A swap must be able to record every step; a full log means no more swaps (documented limit).
    if (free < steps + 2) return false;
    const n = started.size + 1;
    swap.status.append(SWAP_RECORDS.START, n, 0);
    this.runSwap(n, 0);
    return true;
  }

  // Resumes the swap whose START has no DONE, from the step after the last recorded one.
  private resumeSwap(): void {
    const swap = this.layout.swap;
    if (!swap) return;
    let current = 0;
    let next = 0;
    const done = new Set<number>();
    for (const e of swap.status.entries()) {
      if (e.kind !== 'record') continue;
      if (e.type === SWAP_RECORDS.START) {
        current = e.tag;
        next = 0;
      } else if (e.type === SWAP_RECORDS.STEP && e.tag === current)
        next = Math.max(next, e.value + 1);
      else if (e.type === SWAP_RECORDS.DONE) done.add(e.tag);
    }
    if (current !== 0 && !done.has(current)) this.runSwap(current, next);
  }

  // Sector by sector: scratch ← primary, primary ← secondary, secondary ← scratch. Each step is
  // recorded after it completes; a step redone after a cut finds its source intact, because a
  // source is only overwritten by a later step.
  private runSwap(n: number, from: number): void {
    const swap = this.layout.swap;
    const [primary, secondary] = this.layout.slots;
    if (!swap || !primary || !secondary) return;
    const sectors = primary.image.sectors();
    const copy = (to: FlashArea, toOffset: number, data: Uint8Array) => {
      to.erase(toOffset, sectorSizeAt(to, toOffset));
      to.write(toOffset, data);
    };
    for (let step = from; step < 3 * sectors.length; step++) {
      const sector = sectors[Math.floor(step / 3)];
      if (!sector) break;
      const { offset, size } = sector;
      const phase = step % 3;
      if (phase === 0) copy(swap.scratch, 0, primary.image.read(offset, size));
      if (phase === 1) copy(primary.image, offset, secondary.image.read(offset, size));
      if (phase === 2) copy(secondary.image, offset, swap.scratch.read(0, size));
      swap.status.append(SWAP_RECORDS.STEP, n, step);
    }
    swap.status.append(SWAP_RECORDS.DONE, n, 0);
  }

  private tagOf(slot: ImageSlot): number {
    return imageTag((o, l) => slot.image.read(o, l), slot.image.size);
  }

  private decide(slot: ImageSlot, stored: number, resetCause: ResetCause): SlotDecision {
    const tag = this.tagOf(slot);
    const verdict =
      tag === 0
        ? null
        : verifyImage({
            read: (o, l) => slot.image.read(o, l),
            limit: slot.image.size,
            trustedKeys: this.options.trustedKeys,
            minSecurityCounter: stored,
          });
    const trailer = slot.trailer ? readTrailer(slot.trailer, tag) : null;
    const facts: SlotFacts = {
      image: verdict === null ? 'none' : verdict.ok ? 'valid' : 'invalid',
      magic: trailer?.magic ?? 'unset',
      rejected: trailer?.rejected != null,
      abandoned: trailer?.abandoned ?? false,
      imageOk: trailer?.imageOk ?? false,
      copyDone: trailer?.copyDone ?? false,
      trialFailed:
        (trailer?.copyDone ?? false) && (trailer?.attempts ?? 0) >= 1 && resetCause !== 'power-on',
      attemptsLeft: (trailer?.attempts ?? 0) < this.maxTrialBoots && !(trailer?.full ?? true),
    };
    const { index, row } = decideSlot(facts);
    let refusal: SimErrorCode | null = null;
    if (row.swapType === 'fail' && verdict && !verdict.ok) refusal = verdict.code;
    if (row.swapType === 'revert') {
      // The watchdog ended the trial: the application hung. Anything else: not confirmed in time.
      refusal =
        facts.trialFailed && resetCause === 'watchdog' ? 'SIM_APP_HUNG' : 'SIM_BOOT_TRIAL_REVERTED';
    }
    return {
      slot: slot.name,
      facts,
      row: index,
      swapType: row.swapType,
      boot: row.boot,
      refusal,
      image: verdict?.ok ? verdict.info : null,
    };
  }
}

function sectorSizeAt(area: FlashArea, offset: number): number {
  const s = area.sectors().find((x) => x.offset === offset);
  return s?.size ?? area.size;
}
