import type { Clock } from '@updraft/agent';
import { FlashStateStore } from './adapters/flash-state-store.js';
import { SimBootControl } from './adapters/sim-boot-control.js';
import { SimClock } from './adapters/sim-clock.js';
import { SimSwapBootControl } from './adapters/sim-swap-boot-control.js';
import {
  Bootloader,
  type BootResult,
  type ResetCause,
  SECURITY_COUNTER_RECORD,
} from './bootloader.js';
import { createDeviceLayout, type DeviceLayout, type LayoutSpec } from './device-layout.js';
import { isPowerCut, isRunStopped, type RunStopped, SimError } from './errors.js';
import type { TrustedImageKey } from './image-format.js';
import { imageTag, TRAILER_RECORDS } from './slot-trailer.js';
import { verifyImage } from './verify-image.js';

/** What a booted application gets: the agent's ports, backed by this device's flash. */
export interface AppContext {
  readonly boot: Extract<BootResult, { ok: true }>;
  readonly bootControl: SimBootControl | SimSwapBootControl;
  readonly stateStore: FlashStateStore;
  readonly clock: Clock;
  /** What the image's scripted behaviour says its health check answers. */
  readonly healthy: boolean;
  readonly log: (line: string) => void;
}

/**
 * The code that runs on the device after a boot (the agent, or a scripted stand-in). `run`
 * resolves when the application goes idle; a call to `bootControl.reboot()` ends the run too.
 */
export interface DeviceApplication {
  run(ctx: AppContext): Promise<void>;
}

/** How one run of {@link SimDevice.runUntilIdle} ended. */
export const DEVICE_OUTCOMES = ['idle', 'bricked', 'boot-limit', 'stopped'] as const;
export type DeviceOutcome = (typeof DEVICE_OUTCOMES)[number];

/** Configuration of a simulated device. */
export interface SimDeviceOptions {
  readonly id?: string;
  readonly layout: LayoutSpec;
  readonly seed?: number;
  readonly trustedKeys: readonly TrustedImageKey[];
  readonly maxTrialBoots?: number;
  /** Provisioned into slot `a` and confirmed, as at manufacturing. */
  readonly initialImage: Uint8Array;
  /** Provisioned into the write-protected factory slot (layout `ab-factory`). */
  readonly factoryImage?: Uint8Array;
  readonly application: DeviceApplication;
  /** Called with each boot/update log line as it happens. */
  readonly onLog?: (line: string) => void;
  /**
   * Raw flash contents saved by {@link SimDevice.flashContents} on an earlier run: the device
   * resumes with that flash instead of being provisioned (a device that lives across processes).
   */
  readonly restoreFlash?: Uint8Array;
  /**
   * The device's time (default: a virtual {@link SimClock} whose sleeps return at once, for
   * in-process services). A device that talks to a real service needs real time: pass a
   * `BoundedClock` over the system clock (its deadline ends the run with outcome `stopped`).
   */
  readonly clock?: Clock;
  /**
   * A fault of this device rather than of an image: every trial boot of a new image crashes at
   * boot, as a `crash-on-boot` image would, so the bootloader reverts it (a rehearsal's faulty
   * subset, `sim fleet --fault-rate`). Confirmed images keep running normally.
   */
  readonly failsTrialBoot?: boolean;
}

/** One boot as recorded by the device (for invariant checks). */
export interface BootRecord {
  readonly index: number;
  readonly cause: ResetCause;
  readonly result: BootResult;
  /** The booted image re-verified by an independent check (not the bootloader's own). */
  readonly oracleVerified: boolean;
}

/**
 * A simulated microcontroller: flash + bootloader + the application its booted image scripts
 * (healthy, crash-on-boot, fails-health-check, hangs) + an updater application. The flash
 * survives reboots; power cuts planned on it stop a run with {@link PowerCut}, after which the
 * device boots again with reset cause `power-on`.
 */
export class SimDevice {
  readonly id: string;
  readonly layout: DeviceLayout;
  readonly bootloader: Bootloader;
  readonly clock: Clock;
  readonly boots: BootRecord[] = [];
  /** Why the last run ended with outcome `stopped`, else null. */
  stopped: RunStopped | null = null;
  readonly logLines: string[] = [];
  private nextCause: ResetCause = 'power-on';

  constructor(readonly options: SimDeviceOptions) {
    this.id = options.id ?? 'device';
    this.clock = options.clock ?? new SimClock();
    this.layout = createDeviceLayout(options.layout, options.seed ?? 1);
    this.bootloader = new Bootloader(this.layout, {
      trustedKeys: options.trustedKeys,
      maxTrialBoots: options.maxTrialBoots ?? 3,
    });
    if (options.restoreFlash) {
      if (options.restoreFlash.length !== this.layout.flash.size) {
        throw new SimError('SIM_CONFIG_INVALID', 'saved flash does not match this layout', {
          details: { saved: options.restoreFlash.length, expected: this.layout.flash.size },
        });
      }
      this.layout.flash.provision(0, options.restoreFlash);
    } else {
      this.provision();
    }
  }

  /** The raw flash contents, to pass as `restoreFlash` to a later device. */
  flashContents(): Uint8Array {
    return this.layout.flash.snapshot();
  }

  /** The flash chip (plan cuts, bad regions and bit flips on it). */
  get flash() {
    return this.layout.flash;
  }

  /** Appends a line to this device's log. */
  log(line: string): void {
    const stamped = `${this.id} ${line}`;
    this.logLines.push(stamped);
    this.options.onLog?.(stamped);
  }

  /**
   * Boots and runs the application until it goes idle (no reboot requested), the device bricks
   * (no verified image), `maxBoots` boots happened, or the run was stopped from outside
   * ({@link RunStopped}: deadline, request budget, interrupt; see {@link SimDevice.stopped}).
   */
  async runUntilIdle(maxBoots = 50): Promise<DeviceOutcome> {
    this.stopped = null;
    for (let n = 0; n < maxBoots; n++) {
      const cause = this.nextCause;
      this.nextCause = 'power-on';
      this.flash.powerOn();
      let result: BootResult;
      try {
        result = this.bootloader.boot(cause);
      } catch (error) {
        if (!isPowerCut(error)) throw error;
        this.log(
          `boot#${this.boots.length} reset=${cause} power cut in bootloader (${error.message})`,
        );
        continue;
      }
      this.boots.push({
        index: this.boots.length,
        cause,
        result,
        oracleVerified: result.ok && this.oracleVerifies(result),
      });
      if (!result.ok) {
        this.log(
          `boot#${this.boots.length - 1} reset=${cause} PANIC: no bootable image (${result.code})`,
        );
        return 'bricked';
      }
      const { image } = result;
      this.log(
        `boot#${this.boots.length - 1} reset=${cause} slot=${result.slot} swap=${result.swapType}` +
          ` version=${image.versionString} seq=${image.securityCounter}` +
          `${result.trial ? ' (trial)' : ''} app=${image.behaviour}`,
      );
      const deviceFault = result.trial && this.options.failsTrialBoot === true;
      if (image.behaviour === 'crash-on-boot' || deviceFault) {
        this.log(
          `app crashed at boot${deviceFault ? ' (device fault: fails every trial boot)' : ''}: fault handler resets the CPU`,
        );
        this.nextCause = 'software';
        continue;
      }
      if (image.behaviour === 'hangs') {
        this.log('app hung: watchdog reset');
        this.nextCause = 'watchdog';
        continue;
      }
      let rebootRequested = false;
      const ctx: AppContext = {
        boot: result,
        bootControl: new (this.layout.swap ? SimSwapBootControl : SimBootControl)(
          this.bootloader,
          result,
          () => {
            rebootRequested = true;
          },
        ),
        stateStore: new FlashStateStore(this.layout.journal),
        clock: this.clock,
        healthy: image.behaviour === 'healthy',
        log: (line) => this.log(line),
      };
      try {
        await this.options.application.run(ctx);
      } catch (error) {
        if (isRunStopped(error)) {
          this.stopped = error;
          this.log(`run stopped (${error.reason}): ${error.message}`);
          return 'stopped';
        }
        if (!isPowerCut(error)) throw error;
      }
      // An application may swallow the PowerCut; the dead flash still tells the truth.
      if (!this.flash.isPowered) {
        this.log(`power cut during application (${this.flash.lastPowerCut?.message ?? 'cut'})`);
        continue;
      }
      if (rebootRequested) {
        this.log('app requested reboot');
        this.nextCause = 'software';
        continue;
      }
      return 'idle';
    }
    return 'boot-limit';
  }

  /** The image the last successful boot ran, or null. */
  get running(): Extract<BootResult, { ok: true }> | null {
    const last = this.boots[this.boots.length - 1]?.result;
    return last?.ok ? last : null;
  }

  // Re-verifies what the bootloader chose straight from the raw cells, with its own parse.
  private oracleVerifies(last: Extract<BootResult, { ok: true }>): boolean {
    const slot = [...this.layout.slots, ...(this.layout.factory ? [this.layout.factory] : [])].find(
      (s) => s.name === last.slot,
    );
    if (!slot) return false;
    const verdict = verifyImage({
      read: (o, l) => this.flash.snapshot(slot.image.offset + o, l),
      limit: slot.image.size,
      trustedKeys: this.options.trustedKeys,
    });
    return verdict.ok && verdict.info.digestHex === last.image.digestHex;
  }

  private provision(): void {
    const { slots, factory, flash, bootState } = this.layout;
    const a = slots[0];
    if (!a?.trailer) return;
    writePadded(a.image, this.options.initialImage);
    const tag = imageTag((o, l) => a.image.read(o, l), a.image.size);
    for (const type of [
      TRAILER_RECORDS.MAGIC,
      TRAILER_RECORDS.IMAGE_OK,
      TRAILER_RECORDS.COPY_DONE,
    ]) {
      a.trailer.append(type, tag, 0);
    }
    const v = verifyImage({
      read: (o, l) => a.image.read(o, l),
      limit: a.image.size,
      trustedKeys: this.options.trustedKeys,
    });
    if (v.ok) bootState.append(SECURITY_COUNTER_RECORD, 0, v.info.securityCounter);
    if (factory && this.options.factoryImage) {
      flash.provision(factory.image.offset, this.options.factoryImage);
    }
  }
}

function writePadded(
  area: {
    write(o: number, d: Uint8Array): void;
    flash: { writeAlign: number; erasedValue: number };
  },
  data: Uint8Array,
): void {
  const align = area.flash.writeAlign;
  const padded = new Uint8Array(Math.ceil(data.length / align) * align).fill(
    area.flash.erasedValue,
  );
  padded.set(data);
  area.write(0, padded);
}
