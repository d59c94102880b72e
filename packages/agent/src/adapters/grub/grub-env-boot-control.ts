import { BugError } from '@updraft/core';
import { AgentError } from '../../errors.js';
import type { BootControl, BootStatus } from '../../ports/boot-control.js';
import type { Slot } from '../../ports/slot.js';
import { SlotPair, spawnReboot } from '../slot-pair.js';
import { GrubEnv, type GrubEnvOptions } from './grub-env.js';
import { DEFAULT_GRUB_VARIABLES, type GrubVariables } from './grub-variables.js';

/** Settings of {@link GrubEnvBootControl}. */
export interface GrubEnvBootControlOptions extends GrubEnvOptions {
  /** The two slots; their names are the GRUB menu entry ids. The first boots when `saved_entry` is unset. */
  readonly slots: readonly [Slot, Slot];
  /** Variable names, each defaulting to {@link DEFAULT_GRUB_VARIABLES}. */
  readonly variables?: Partial<GrubVariables>;
  /** Command run by `reboot()` (e.g. `["systemctl", "reboot"]`); without it the host restarts the agent. */
  readonly rebootCommand?: readonly string[];
}

/**
 * A/B boot control in the GRUB environment block with GRUB's boot-once scheme (docs/agent.md,
 * "Real boot chains"): `markPending` sets `next_entry` (as `grub-reboot` does), grub.cfg boots it
 * once and records it in `updraft_trial`, `confirm` makes it `saved_entry` (as `grub-set-default`
 * does). An unconfirmed trial is dropped at the next boot, so a trial is exactly one boot and no
 * `reject()` is needed: rebooting is the revert.
 *
 * | `next_entry` | `updraft_trial` | meaning |
 * |---|---|---|
 * | unset | unset | `saved_entry` runs confirmed |
 * | `s` | unset | `s` is pending; `saved_entry` runs |
 * | unset | `s` | `s` runs on trial |
 *
 * Every method is at most one `grub-editenv … set` call (a write-and-rename of the block).
 */
export class GrubEnvBootControl implements BootControl {
  readonly #env: GrubEnv;
  readonly #options: GrubEnvBootControlOptions;
  readonly #slots: SlotPair;
  readonly #vars: GrubVariables;

  constructor(options: GrubEnvBootControlOptions) {
    this.#slots = new SlotPair(options.slots, 'an entry id');
    this.#options = options;
    this.#vars = { ...DEFAULT_GRUB_VARIABLES, ...options.variables };
    this.#env = new GrubEnv(options);
  }

  async status(): Promise<BootStatus> {
    const env = await this.#env.read();
    const v = this.#vars;
    const saved = this.#slotVar(env, v.savedEntry) ?? this.#slots.first.name;
    const trial = this.#slotVar(env, v.trial);
    return {
      booted: trial ?? saved,
      trial: trial !== null,
      pending: this.#slotVar(env, v.nextEntry),
      lastFailure: env.get(v.failure) || null,
    };
  }

  async updateSlot(): Promise<Slot> {
    return this.slot(this.#slots.other((await this.status()).booted));
  }

  async slot(name: string): Promise<Slot> {
    return this.#slots.get(name);
  }

  async markPending(slotName: string): Promise<void> {
    await this.slot(slotName);
    if (slotName === (await this.status()).booted) {
      throw new BugError('cannot mark the booted slot pending');
    }
    await this.#env.write({ [this.#vars.nextEntry]: slotName, [this.#vars.failure]: '' });
  }

  async clearPending(): Promise<void> {
    if ((await this.status()).pending === null) return;
    await this.#env.write({ [this.#vars.nextEntry]: '' });
  }

  async confirm(): Promise<void> {
    const status = await this.status();
    const v = this.#vars;
    if (status.trial) {
      await this.#env.write({ [v.savedEntry]: status.booted, [v.trial]: '', [v.failure]: '' });
    } else if (status.lastFailure !== null) {
      await this.#env.write({ [v.failure]: '' });
    }
  }

  async reboot(): Promise<void> {
    spawnReboot(this.#options.rebootCommand);
  }

  #slotVar(env: ReadonlyMap<string, string>, name: string): string | null {
    const value = env.get(name);
    if (value === undefined || value === '') return null;
    if (!this.#slots.has(value)) {
      throw new AgentError('AGENT_BOOT_STATE_INVALID', `${name}=${value} names no known slot`, {
        details: { variable: name, value },
      });
    }
    return value;
  }
}
