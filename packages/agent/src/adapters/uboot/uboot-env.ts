import { BugError } from '@updraft/core';
import { runTool } from '../tool/run-tool.js';

/** Where the U-Boot environment is and how its tools are run. */
export interface UBootEnvOptions {
  /** The `fw_env.config` describing the environment (device or file, offset, size; two lines when redundant). */
  readonly config: string;
  /** `fw_printenv` (default: found on PATH). */
  readonly printenv?: string;
  /** `fw_setenv` (default: found on PATH). */
  readonly setenv?: string;
  /** Per call (default 10 s). */
  readonly timeoutMs?: number;
}

/** A U-Boot environment is at most a few hundred KiB; more output than this is not one. */
const MAX_OUTPUT = 1024 * 1024;

/**
 * The U-Boot environment through Debian's `u-boot-tools` (libubootenv's `fw_printenv` and
 * `fw_setenv`, run with `-c <fw_env.config>`). `write` sets and deletes any number of variables in
 * one `fw_setenv -s -` call, which is one environment write: with a redundant environment (two
 * copies) the tools write the older copy and flip its flag, so a power cut leaves either the whole
 * change or none of it.
 */
export class UBootEnv {
  readonly #options: UBootEnvOptions;

  constructor(options: UBootEnvOptions) {
    this.#options = options;
  }

  /** Every variable of the environment. */
  async read(): Promise<ReadonlyMap<string, string>> {
    const out = await runTool(
      this.#options.printenv ?? 'fw_printenv',
      ['-c', this.#options.config],
      {
        code: 'AGENT_BOOT_TOOL_FAILED',
        timeoutMs: this.#options.timeoutMs,
        maxOutput: MAX_OUTPUT,
      },
    );
    const env = new Map<string, string>();
    for (const line of out.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) env.set(line.slice(0, eq), line.slice(eq + 1));
    }
    return env;
  }

  /** Sets (a string) or deletes (`null`) variables, all in one environment write. */
  async write(changes: Readonly<Record<string, string | null>>): Promise<void> {
    const lines = Object.entries(changes).map(([name, value]) => {
      assertEnvText(name, /^[A-Za-z0-9_.:-]+$/, 'variable name');
      if (value !== null) assertEnvText(value, /^[^\n\0]*$/, 'value');
      // The script format of libubootenv: `name=value`; `name=` deletes the variable.
      return `${name}=${value ?? ''}\n`;
    });
    if (lines.length === 0) return;
    await runTool(this.#options.setenv ?? 'fw_setenv', ['-c', this.#options.config, '-s', '-'], {
      code: 'AGENT_BOOT_TOOL_FAILED',
      timeoutMs: this.#options.timeoutMs,
      maxOutput: MAX_OUTPUT,
      input: lines.join(''),
    });
  }
}

function assertEnvText(text: string, pattern: RegExp, what: string): void {
  if (!pattern.test(text))
    throw new BugError(`not a U-Boot environment ${what}: ${JSON.stringify(text)}`);
}
