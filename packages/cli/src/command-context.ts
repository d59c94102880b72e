import { isAbsolute, resolve } from 'node:path';
import { BugError } from '@updraft/core';
import type { CliIo } from './io.js';
import { createProgress, type Progress } from './progress.js';
import { toJsonValue } from './to-json.js';

/**
 * What a command gets besides its arguments: the io, the output mode, and helpers that keep
 * output rules in one place (one JSON document in `--json` mode, progress only on terminals).
 */
export class CommandContext {
  readonly io: CliIo;
  /** `--json`: exactly one JSON document on stdout, nothing else there. */
  readonly json: boolean;
  /** `--debug`: stacks of unexpected errors on stderr. */
  readonly debug: boolean;
  #resultWritten = false;

  constructor(io: CliIo, options: { json: boolean; debug: boolean }) {
    this.io = io;
    this.json = options.json;
    this.debug = options.debug;
  }

  /** True once the command has written its result. */
  get resultWritten(): boolean {
    return this.#resultWritten;
  }

  /** A user-supplied path resolved against the io's working directory. */
  path(path: string): string {
    return isAbsolute(path) ? path : resolve(this.io.cwd, path);
  }

  /**
   * Write the command's result: `data` as one JSON document with `--json`, otherwise the human
   * text. Called once per command.
   */
  result(data: unknown, human: string | (() => string)): void {
    if (this.#resultWritten) throw new BugError('a command wrote its result twice');
    this.#resultWritten = true;
    if (this.json) {
      this.io.stdout.write(`${JSON.stringify(toJsonValue(data), null, 2)}\n`);
    } else {
      const text = typeof human === 'function' ? human() : human;
      if (text !== '') this.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    }
  }

  /**
   * One JSON document on one line (JSON Lines), for a command that streams events in `--json`
   * mode instead of writing one result.
   */
  jsonLine(data: unknown): void {
    this.#resultWritten = true;
    this.io.stdout.write(`${JSON.stringify(toJsonValue(data))}\n`);
  }

  /** A human-only note on stderr (never in `--json` mode). */
  note(line: string): void {
    if (!this.json) this.io.stderr.write(`${line}\n`);
  }

  /** A progress bar for `total` bytes (silent unless stdout is a terminal and not `--json`). */
  progress(label: string, total: number): Progress {
    return createProgress(this.io, { json: this.json, label, total });
  }
}
