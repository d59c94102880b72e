import { BugError } from '@updraft/core';
import { AgentError } from '../../errors.js';
import type { BootControl, BootStatus } from '../../ports/boot-control.js';
import type { Slot } from '../../ports/slot.js';
import { SlotPair, spawnReboot } from '../slot-pair.js';
import { UBootEnv, type UBootEnvOptions } from './uboot-env.js';
import { DEFAULT_UBOOT_VARIABLES, type UBootVariables } from './uboot-variables.js';

/** Settings of {@link UBootEnvBootControl}. */
export interface UBootEnvBootControlOptions extends UBootEnvOptions {
  /**
   * The two slots; their names are the values of the slot variable (`a`/`b`, or `A`/`B` when the
   * boot script says so). The first one boots on a device whose environment names no slot.
   */
  readonly slots: readonly [Slot, Slot];
  /** Variable names, each defaulting to {@link DEFAULT_UBOOT_VARIABLES}. */
  readonly variables?: Partial<UBootVariables>;
  /** Command run by `reboot()` (e.g. `["systemctl", "reboot"]`); without it the host restarts the agent. */
  readonly rebootCommand?: readonly string[];
}

/**
 * A/B boot control in the U-Boot environment, for boards whose boot script follows U-Boot's
 * bootcount scheme (docs/agent.md, "Real boot chains"). The environment is the whole state:
 *
 * | `upgrade_available` | `bootcount` | meaning |
 * |---|---|---|
 * | `0` or unset | any | `boot_slot` runs confirmed |
 * | `1` | `0` | `boot_slot` is pending (marked, not booted yet); the other slot runs |
 * | `1` | `≥ 1` | `boot_slot` runs on trial (U-Boot counted the boot) |
 *
 * Every method is one `fw_setenv` call (one atomic environment write), so each is durable when it
 * returns and a power cut leaves the old or the new state.
 */
export class UBootEnvBootControl implements BootControl {
  readonly #env: UBootEnv;
  readonly #options: UBootEnvBootControlOptions;
  readonly #slots: SlotPair;
  readonly #vars: UBootVariables;

  constructor(options: UBootEnvBootControlOptions) {
    this.#slots = new SlotPair(options.slots, 'an env value');
    this.#options = options;
    this.#vars = { ...DEFAULT_UBOOT_VARIABLES, ...options.variables };
    this.#env = new UBootEnv(options);
  }

  async status(): Promise<BootStatus> {
    return (await this.#read()).status;
  }

  async updateSlot(): Promise<Slot> {
    const { status } = await this.#read();
    return this.slot(this.#slots.other(status.booted));
  }

  async slot(name: string): Promise<Slot> {
    return this.#slots.get(name);
  }

  async markPending(slotName: string): Promise<void> {
    await this.slot(slotName);
    const { status } = await this.#read();
    if (slotName === status.booted) throw new BugError('cannot mark the booted slot pending');
    const v = this.#vars;
    await this.#env.write({
      [v.slot]: slotName,
      [v.upgradeAvailable]: '1',
      [v.bootcount]: '0',
      [v.failure]: null,
    });
  }

  async clearPending(): Promise<void> {
    const { status } = await this.#read();
    if (status.pending === null) return;
    const v = this.#vars;
    await this.#env.write({
      [v.slot]: status.booted,
      [v.upgradeAvailable]: '0',
      [v.bootcount]: '0',
    });
  }

  async confirm(): Promise<void> {
    const { status } = await this.#read();
    const v = this.#vars;
    if (status.trial) {
      await this.#env.write({ [v.upgradeAvailable]: '0', [v.bootcount]: '0', [v.failure]: null });
    } else if (status.lastFailure !== null) {
      await this.#env.write({ [v.failure]: null });
    }
  }

  /** Sets `bootcount` to `bootlimit`: U-Boot's increment at the next boot exceeds it and runs `altbootcmd`. */
  async reject(): Promise<void> {
    const { status, bootlimit } = await this.#read();
    if (!status.trial) return;
    if (bootlimit <= 0) {
      throw new AgentError(
        'AGENT_BOOT_STATE_INVALID',
        `${this.#vars.bootlimit} is not set: U-Boot would never revert a trial`,
      );
    }
    await this.#env.write({ [this.#vars.bootcount]: String(bootlimit) });
  }

  async reboot(): Promise<void> {
    spawnReboot(this.#options.rebootCommand);
  }

  async #read(): Promise<{ status: BootStatus; bootlimit: number }> {
    const env = await this.#env.read();
    const v = this.#vars;
    const slot = env.get(v.slot) ?? this.#slots.first.name;
    if (!this.#slots.has(slot)) {
      throw new AgentError('AGENT_BOOT_STATE_INVALID', `${v.slot}=${slot} names no known slot`, {
        details: { variable: v.slot, value: slot },
      });
    }
    const bootcount = counter(env, v.bootcount);
    const bootlimit = counter(env, v.bootlimit);
    const failure = env.get(v.failure);
    const lastFailure = failure === undefined || failure === '' ? null : failure;
    if (env.get(v.upgradeAvailable) !== '1') {
      return { status: { booted: slot, trial: false, pending: null, lastFailure }, bootlimit };
    }
    if (bootcount === 0) {
      // Marked, not booted yet: U-Boot has not counted a boot of it.
      return {
        status: { booted: this.#slots.other(slot), trial: false, pending: slot, lastFailure },
        bootlimit,
      };
    }
    return { status: { booted: slot, trial: true, pending: null, lastFailure }, bootlimit };
  }
}

function counter(env: ReadonlyMap<string, string>, name: string): number {
  const text = env.get(name);
  if (text === undefined || text === '') return 0;
  // U-Boot parses these with simple_strtoul (decimal as the tools print them).
  if (!/^\d{1,9}$/.test(text)) {
    throw new AgentError('AGENT_BOOT_STATE_INVALID', `${name}=${text} is not a number`, {
      details: { variable: name, value: text },
    });
  }
  return Number.parseInt(text, 10);
}
