import { spawn } from 'node:child_process';
import { BugError } from '@updraft/core';
import type { Slot } from '../ports/slot.js';

const SLOT_NAME = /^[A-Za-z0-9_.-]+$/;

/**
 * The two slots of an A/B boot control that names them in a boot loader's environment (GRUB,
 * U-Boot): their names are checked once (distinct, and plain enough to be `what`), and looked up.
 */
export class SlotPair {
  readonly #slots: readonly [Slot, Slot];

  constructor(slots: readonly [Slot, Slot], what: string) {
    const [a, b] = slots;
    if (a.name === b.name) throw new BugError('the two slots need distinct names');
    for (const s of slots) {
      if (!SLOT_NAME.test(s.name)) throw new BugError(`slot name ${s.name} cannot be ${what}`);
    }
    this.#slots = slots;
  }

  /** The slot that boots when the environment names none. */
  get first(): Slot {
    return this.#slots[0];
  }

  has(name: string): boolean {
    return this.#slots.some((s) => s.name === name);
  }

  get(name: string): Slot {
    const slot = this.#slots.find((s) => s.name === name);
    if (!slot) throw new BugError(`no slot named ${name}`);
    return slot;
  }

  /** The name of the slot that is not `name`. */
  other(name: string): string {
    const [a, b] = this.#slots;
    return name === a.name ? b.name : a.name;
  }
}

/** Starts the reboot `command` detached (the agent does not wait for it); none: nothing to do. */
export function spawnReboot(command: readonly string[] | undefined): void {
  if (!command || command.length === 0) return;
  const [file, ...args] = command;
  spawn(file!, args, { detached: true, stdio: 'ignore' }).unref();
}
