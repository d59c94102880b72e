import { CliError } from './errors.js';

type Value = string | readonly string[] | boolean | undefined;

/**
 * Parsed arguments of one command, read by the names used in the command table: positionals by
 * their name, options by their long flag without dashes (`'vendor-id'`). Accessors validate and
 * throw `CLI_USAGE`, so a command never sees a value of the wrong shape.
 */
export class CommandArgs {
  readonly #values: ReadonlyMap<string, Value>;
  readonly #positionals: ReadonlySet<string>;

  constructor(values: Readonly<Record<string, Value>>, positionals: readonly string[] = []) {
    this.#values = new Map(Object.entries(values));
    this.#positionals = new Set(positionals);
  }

  /** A single string value, or undefined when absent. */
  string(name: string): string | undefined {
    const value = this.#values.get(name);
    if (value === undefined || value === false) return undefined;
    if (typeof value === 'string') return value;
    if (Array.isArray(value)) return value.at(-1);
    throw new CliError('CLI_USAGE', `${this.#label(name)} needs a value`);
  }

  /** A string value that must be present. */
  requiredString(name: string): string {
    const value = this.string(name);
    if (value === undefined || value === '') {
      throw new CliError('CLI_USAGE', `missing required ${this.#label(name)}`);
    }
    return value;
  }

  /** All values of a repeatable option or variadic argument (empty when absent). */
  strings(name: string): readonly string[] {
    const value = this.#values.get(name);
    if (value === undefined || value === false) return [];
    if (typeof value === 'string') return [value];
    if (Array.isArray(value)) return value as readonly string[];
    throw new CliError('CLI_USAGE', `${this.#label(name)} needs a value`);
  }

  /** A boolean flag. */
  flag(name: string): boolean {
    return this.#values.get(name) === true;
  }

  /** A non-negative integer (decimal), bounded by `max`. */
  integer(name: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    if (!/^\d{1,16}$/.test(raw) || Number(raw) > max) {
      throw new CliError('CLI_USAGE', `${this.#label(name)} must be an integer from 0 to ${max}`, {
        details: { option: name, value: raw },
      });
    }
    return Number(raw);
  }

  /** One of a closed set of strings. */
  choice<T extends string>(name: string, choices: readonly T[]): T | undefined {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    if (!(choices as readonly string[]).includes(raw)) {
      throw new CliError(
        'CLI_USAGE',
        `${this.#label(name)} must be one of ${choices.join(', ')} (got "${raw}")`,
        { details: { option: name, value: raw } },
      );
    }
    return raw as T;
  }

  #label(name: string): string {
    return this.#positionals.has(name) ? `<${name}>` : `--${name}`;
  }
}
