import type { Clock } from '@updraft/agent';
import type { LayoutSpec } from './device-layout.js';
import { SimError } from './errors.js';
import type { TrustedImageKey } from './image-format.js';
import { isFaultyDevice } from './is-faulty-device.js';
import { type DeviceApplication, type DeviceOutcome, SimDevice } from './sim-device.js';

/** Configuration of a {@link SimFleet}. */
export interface SimFleetOptions {
  readonly devices: number;
  readonly layout: LayoutSpec;
  readonly trustedKeys: readonly TrustedImageKey[];
  readonly initialImage: Uint8Array;
  readonly factoryImage?: Uint8Array;
  /** The application of device `index` (usually an `AgentApplication` with its own transport). */
  readonly application: (index: number, id: string) => DeviceApplication;
  /** Devices run at the same time (default 64). */
  readonly concurrency?: number;
  readonly seed?: number;
  readonly idPrefix?: string;
  /** The name of device `index` (default `<idPrefix>-00000`, …): its log prefix and fault key. */
  readonly name?: (index: number) => string;
  /**
   * The fraction (0..1) of devices that fail the trial boot of every new image (see
   * `SimDeviceOptions.failsTrialBoot`), chosen by {@link isFaultyDevice} over the names.
   */
  readonly faultRate?: number;
  /** The seed of that choice (default `updraft`). */
  readonly faultSeed?: string;
  readonly onLog?: (line: string) => void;
  /** The clock of device `index` (default: each its own virtual clock; see SimDeviceOptions). */
  readonly clock?: (index: number) => Clock;
}

/** What one round of a fleet did. */
export interface FleetRound {
  readonly outcomes: Readonly<Record<DeviceOutcome, number>>;
  /** Devices per running version ("none" for bricked devices). */
  readonly versions: Readonly<Record<string, number>>;
  readonly boots: number;
  /** Devices that fail every trial boot ({@link SimFleetOptions.faultRate}). */
  readonly faulty: number;
  readonly ms: number;
}

/** The seed of the faulty subset when none is given. */
export const DEFAULT_FAULT_SEED = 'updraft';

/** Upper bound on fleet size: each device holds its own flash in memory. */
export const MAX_FLEET_DEVICES = 100_000;

/**
 * Many simulated devices in one process, each with its own flash, bootloader and application.
 * A round boots every device and runs it until idle, `concurrency` at a time.
 */
export class SimFleet {
  readonly devices: readonly SimDevice[];
  private readonly concurrency: number;

  constructor(options: SimFleetOptions) {
    if (
      !Number.isInteger(options.devices) ||
      options.devices < 1 ||
      options.devices > MAX_FLEET_DEVICES
    ) {
      throw new SimError('SIM_CONFIG_INVALID', `fleet size must be 1..${MAX_FLEET_DEVICES}`);
    }
    this.concurrency = Math.max(1, options.concurrency ?? 64);
    const prefix = options.idPrefix ?? 'sim';
    const rate = options.faultRate ?? 0;
    const seed = options.faultSeed ?? DEFAULT_FAULT_SEED;
    this.devices = Array.from({ length: options.devices }, (_, index) => {
      const id = options.name?.(index) ?? `${prefix}-${String(index).padStart(5, '0')}`;
      return new SimDevice({
        ...(isFaultyDevice(id, rate, seed) ? { failsTrialBoot: true } : {}),
        id,
        layout: options.layout,
        seed: (options.seed ?? 1) + index,
        trustedKeys: options.trustedKeys,
        initialImage: options.initialImage,
        ...(options.factoryImage ? { factoryImage: options.factoryImage } : {}),
        application: options.application(index, id),
        ...(options.onLog ? { onLog: options.onLog } : {}),
        ...(options.clock ? { clock: options.clock(index) } : {}),
      });
    });
  }

  /** Boots every device and runs it until idle (or bricked, or out of boots). */
  async runRound(maxBoots = 50): Promise<FleetRound> {
    const started = Date.now();
    const outcomes: Record<DeviceOutcome, number> = {
      idle: 0,
      bricked: 0,
      'boot-limit': 0,
      stopped: 0,
    };
    let next = 0;
    const worker = async () => {
      while (next < this.devices.length) {
        const device = this.devices[next++];
        if (!device) break;
        outcomes[await device.runUntilIdle(maxBoots)]++;
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(this.concurrency, this.devices.length) }, worker),
    );
    const versions: Record<string, number> = {};
    let boots = 0;
    for (const d of this.devices) {
      const v = d.running?.image.versionString ?? 'none';
      versions[v] = (versions[v] ?? 0) + 1;
      boots += d.boots.length;
    }
    const faulty = this.devices.filter((d) => d.options.failsTrialBoot).length;
    return { outcomes, versions, boots, faulty, ms: Date.now() - started };
  }
}
