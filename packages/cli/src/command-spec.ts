import type { CommandArgs } from './command-args.js';
import type { CommandContext } from './command-context.js';
import type { ExitCode } from './exit-codes.js';

/** A positional argument of a command. */
export interface ArgumentSpec {
  /** Name used in help (`<name>`) and to read the value (`args.string(name)`). */
  readonly name: string;
  readonly description: string;
  /** Default true. */
  readonly required?: boolean;
  /** Takes every remaining positional (read with `args.strings(name)`). */
  readonly variadic?: boolean;
}

/** An option of a command. */
export interface OptionSpec {
  /** Long name without dashes, e.g. `'vendor-id'`; read it with `args.string('vendor-id')`. */
  readonly name: string;
  /** Placeholder for the value (`'file'` → `--out <file>`); absent for boolean flags. */
  readonly value?: string;
  readonly description: string;
  /** One-letter alias, e.g. `'o'`. */
  readonly short?: string;
  /** The option must be given. */
  readonly required?: boolean;
  /** May be given several times; read the values with `args.strings(name)`. */
  readonly repeatable?: boolean;
  /** Allowed values; anything else is a usage error before the command runs. */
  readonly choices?: readonly string[];
  /** Environment variable used when the option is absent (e.g. `UPDRAFT_SERVER`). */
  readonly env?: string;
}

/** What a command module exports. */
export interface CommandModule {
  run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode>;
}

/** One row of the command table: everything help and parsing need, and how to load the code. */
export interface CommandSpec {
  /** Words that select the command: `['manifest', 'sign']`. */
  readonly path: readonly string[];
  /** One line for the command list. */
  readonly summary: string;
  /** Extra help text (examples). */
  readonly help?: string;
  readonly arguments?: readonly ArgumentSpec[];
  readonly options?: readonly OptionSpec[];
  /** Loaded only when the command runs, so `updraft keys …` never loads the server. */
  readonly load: () => Promise<CommandModule>;
}
