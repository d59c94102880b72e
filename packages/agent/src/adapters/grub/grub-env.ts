import { BugError } from '@updraft/core';
import { runTool } from '../tool/run-tool.js';

/** Where the GRUB environment block is and how `grub-editenv` is run. */
export interface GrubEnvOptions {
  /** The environment block, e.g. `/boot/grub/grubenv` (1024 bytes, made by `grub-editenv … create`). */
  readonly file: string;
  /** `grub-editenv` (default: found on PATH). */
  readonly editenv?: string;
  /** Per call (default 10 s). */
  readonly timeoutMs?: number;
}

/**
 * The GRUB environment block through Debian's `grub-editenv` (grub-common). `write` is one
 * `grub-editenv <file> set …` call: the tool writes `<file>.new` and renames it over the block, so
 * a power cut leaves the old or the new environment. A variable set to `''` reads as unset, which
 * is also how GRUB's own `save_env` records a cleared variable.
 */
export class GrubEnv {
  readonly #options: GrubEnvOptions;

  constructor(options: GrubEnvOptions) {
    this.#options = options;
  }

  /** Every variable of the block. */
  async read(): Promise<ReadonlyMap<string, string>> {
    const out = await runTool(
      this.#options.editenv ?? 'grub-editenv',
      [this.#options.file, 'list'],
      {
        code: 'AGENT_BOOT_TOOL_FAILED',
        timeoutMs: this.#options.timeoutMs,
        maxOutput: 64 * 1024,
      },
    );
    const env = new Map<string, string>();
    for (const line of out.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) env.set(line.slice(0, eq), line.slice(eq + 1));
    }
    return env;
  }

  /** Sets variables (`''` clears one), all in one write of the block. */
  async write(changes: Readonly<Record<string, string>>): Promise<void> {
    const pairs = Object.entries(changes).map(([name, value]) => {
      if (!/^[A-Za-z0-9_]+$/.test(name)) throw new BugError(`not a GRUB variable name: ${name}`);
      if (!/^[^\n\\]*$/.test(value)) throw new BugError(`not a plain GRUB env value: ${value}`);
      return `${name}=${value}`;
    });
    if (pairs.length === 0) return;
    await runTool(this.#options.editenv ?? 'grub-editenv', [this.#options.file, 'set', ...pairs], {
      code: 'AGENT_BOOT_TOOL_FAILED',
      timeoutMs: this.#options.timeoutMs,
      maxOutput: 64 * 1024,
    });
  }
}
