import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { BugError } from '@updraft/core';
import { atomicWriteFile } from '@updraft/core/fs';
import { AgentError } from '../../errors.js';
import type { BootControl, BootStatus } from '../../ports/boot-control.js';
import type { Slot } from '../../ports/slot.js';

/** The persisted A/B boot state (the role U-Boot's environment plays on a real board). */
interface BootState {
  format: 1;
  booted: string;
  previous: string | null;
  trial: boolean;
  pending: string | null;
  /** Boots left for the running trial image before it is reverted. */
  attemptsLeft: number;
  rejected: boolean;
  lastFailure: string | null;
}

/** Settings of {@link JsonBootControl}. */
export interface JsonBootControlOptions {
  /** The JSON state file (written atomically). */
  readonly statePath: string;
  /** The two update slots, `a` and `b` by convention; the first one boots on a fresh device. */
  readonly slots: readonly [Slot, Slot];
  /** Boots a trial image gets before it is reverted (default 3). */
  readonly trialBoots?: number;
  /** Command run by `reboot()` (e.g. `["systemctl", "reboot"]`); without it the host restarts the agent. */
  readonly rebootCommand?: readonly string[];
}

/**
 * A/B boot control kept in a small JSON file, for Linux devices whose "bootloader" is a launcher
 * (a systemd unit that starts the application from the booted slot) and for tests. `boot()` is the
 * bootloader step: call it once per start, before the agent runs. It boots a pending slot as a trial,
 * counts trial boots and reverts an unconfirmed trial. docs/agent.md shows how a U-Boot
 * (`fw_setenv`) or GRUB-environment adapter implements the same port.
 */
export class JsonBootControl implements BootControl {
  readonly #options: JsonBootControlOptions;
  #state: BootState;

  private constructor(options: JsonBootControlOptions, state: BootState) {
    this.#options = options;
    this.#state = state;
  }

  /** Loads the state file (a fresh device boots the first slot). */
  static async open(options: JsonBootControlOptions): Promise<JsonBootControl> {
    const [a, b] = options.slots;
    if (a.name === b.name) throw new BugError('the two slots need distinct names');
    let state: BootState = {
      format: 1,
      booted: a.name,
      previous: null,
      trial: false,
      pending: null,
      attemptsLeft: 0,
      rejected: false,
      lastFailure: null,
    };
    try {
      const parsed: unknown = JSON.parse(await readFile(options.statePath, 'utf8'));
      if (!isBootState(parsed, [a.name, b.name])) {
        throw new AgentError('AGENT_BOOT_STATE_INVALID', 'boot state file has an unexpected shape');
      }
      state = parsed;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        if (error instanceof AgentError) throw error;
        throw new AgentError('AGENT_BOOT_STATE_INVALID', 'boot state file is unreadable', {
          cause: error,
        });
      }
    }
    return new JsonBootControl(options, state);
  }

  /** The bootloader's decision at power-on; returns the slot that runs now. */
  async boot(): Promise<string> {
    const s = this.#state;
    if (s.trial && s.attemptsLeft > 0 && !s.rejected) {
      s.attemptsLeft -= 1;
    } else if (s.trial) {
      // An unconfirmed trial image is dropped: back to the image that ran before it.
      s.booted = s.previous ?? this.#other(s.booted);
      s.trial = false;
      s.rejected = false;
      s.attemptsLeft = 0;
      s.lastFailure = 'AGENT_BOOT_REVERTED';
    } else if (s.pending !== null) {
      s.previous = s.booted;
      s.booted = s.pending;
      s.pending = null;
      s.trial = true;
      s.attemptsLeft = (this.#options.trialBoots ?? 3) - 1;
    }
    await this.#save();
    return s.booted;
  }

  async status(): Promise<BootStatus> {
    const s = this.#state;
    return { booted: s.booted, trial: s.trial, pending: s.pending, lastFailure: s.lastFailure };
  }

  async updateSlot(): Promise<Slot> {
    return this.slot(this.#other(this.#state.booted));
  }

  async slot(name: string): Promise<Slot> {
    const slot = this.#options.slots.find((s) => s.name === name);
    if (!slot) throw new BugError(`no slot named ${name}`);
    return slot;
  }

  async markPending(slotName: string): Promise<void> {
    if (slotName === this.#state.booted) throw new BugError('cannot mark the booted slot pending');
    await this.slot(slotName);
    this.#state.pending = slotName;
    await this.#save();
  }

  async clearPending(): Promise<void> {
    this.#state.pending = null;
    await this.#save();
  }

  async confirm(): Promise<void> {
    this.#state.trial = false;
    this.#state.attemptsLeft = 0;
    this.#state.lastFailure = null;
    await this.#save();
  }

  async reject(): Promise<void> {
    if (!this.#state.trial) return;
    this.#state.rejected = true;
    await this.#save();
  }

  async reboot(): Promise<void> {
    const command = this.#options.rebootCommand;
    if (!command || command.length === 0) return;
    const [file, ...args] = command;
    const child = spawn(file!, args, { detached: true, stdio: 'ignore' });
    child.unref();
  }

  #other(name: string): string {
    const [a, b] = this.#options.slots;
    return name === a.name ? b.name : a.name;
  }

  async #save(): Promise<void> {
    await atomicWriteFile(
      this.#options.statePath,
      new TextEncoder().encode(`${JSON.stringify(this.#state, null, 2)}\n`),
    );
  }
}

function isBootState(v: unknown, names: readonly string[]): v is BootState {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as Record<string, unknown>;
  return (
    s.format === 1 &&
    typeof s.booted === 'string' &&
    names.includes(s.booted) &&
    (s.previous === null || (typeof s.previous === 'string' && names.includes(s.previous))) &&
    typeof s.trial === 'boolean' &&
    (s.pending === null || (typeof s.pending === 'string' && names.includes(s.pending))) &&
    typeof s.attemptsLeft === 'number' &&
    typeof s.rejected === 'boolean' &&
    (s.lastFailure === null || typeof s.lastFailure === 'string')
  );
}
