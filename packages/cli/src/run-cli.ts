import { BugError } from '@updraft/core';
import { Command, CommanderError, Option } from 'commander';
import { CommandArgs } from './command-args.js';
import { CommandContext } from './command-context.js';
import type { CommandSpec, OptionSpec } from './command-spec.js';
import { COMMAND_GROUPS, COMMAND_ORDER, COMMANDS } from './command-table.js';
import { CliError } from './errors.js';
import { EXIT_CODES, type ExitCode } from './exit-codes.js';
import type { CliIo } from './io.js';
import { renderError } from './render-error.js';

/** The CLI's version, printed by `updraft --version`. */
export const CLI_VERSION = '0.1.0';

interface Selected {
  readonly spec: CommandSpec;
  readonly values: Record<string, string | string[] | boolean | undefined>;
}

/**
 * Runs the `updraft` command line `argv` (without `node` and the script) against `io` and returns
 * the exit code. Never calls `process.exit` and never throws: every failure becomes one clear
 * line on stderr (or a JSON document on stdout with `--json`) and a non-zero exit code.
 *
 * @example
 *   const code = await runCli(['keys', 'generate', '--alg', 'ed25519', '--out', 'release'], io);
 */
export async function runCli(
  argv: readonly string[],
  io: CliIo,
  table: readonly CommandSpec[] = COMMANDS,
): Promise<ExitCode> {
  // Known before parsing, so that even a usage error is rendered as JSON when asked.
  const beforeDashes = argv.includes('--') ? argv.slice(0, argv.indexOf('--')) : argv;
  const ctx = new CommandContext(io, {
    json: beforeDashes.includes('--json'),
    debug: beforeDashes.includes('--debug'),
  });
  try {
    const parsed = await parse(argv, io, table, ctx.json);
    if (typeof parsed === 'number') return parsed;
    const positionals = (parsed.spec.arguments ?? []).map((a) => a.name);
    const module = await parsed.spec.load();
    const code = await module.run(ctx, new CommandArgs(parsed.values, positionals));
    if (ctx.json && !ctx.resultWritten) ctx.result({ ok: code === EXIT_CODES.ok }, '');
    return code;
  } catch (error) {
    return renderError(ctx, error);
  }
}

async function parse(
  argv: readonly string[],
  io: CliIo,
  table: readonly CommandSpec[],
  json: boolean,
): Promise<Selected | ExitCode> {
  let selected: Selected | undefined;
  const program = configure(new Command('updraft'), io)
    .description('Secure over-the-air firmware updates: keys, SUIT manifests, payloads, service.')
    .version(CLI_VERSION, '-V, --version', 'print the version')
    .addHelpText(
      'after',
      '\nRun `updraft <command> --help` for a command. Exit codes: docs/cli.md.',
    );
  addGlobalOptions(program);

  for (const spec of inHelpOrder(table)) {
    let parent = program;
    spec.path.slice(0, -1).forEach((word, i) => {
      const found = parent.commands.find((c) => c.name() === word);
      if (found !== undefined) {
        parent = found;
        return;
      }
      const key = spec.path.slice(0, i + 1).join(' ');
      parent = configure(parent.command(word), io).description(
        COMMAND_GROUPS[key] ?? `${key} commands`,
      );
    });
    const leaf = configure(parent.command(spec.path.at(-1)!), io).description(spec.summary);
    if (spec.help !== undefined) leaf.addHelpText('after', `\n${spec.help}`);
    for (const arg of spec.arguments ?? []) {
      const dots = arg.variadic === true ? '...' : '';
      leaf.argument(
        arg.required === false ? `[${arg.name}${dots}]` : `<${arg.name}${dots}>`,
        arg.description,
      );
    }
    for (const opt of spec.options ?? []) leaf.addOption(toOption(opt, io));
    addGlobalOptions(leaf);
    leaf.action((...actionArgs: unknown[]) => {
      const values: Record<string, string | string[] | boolean | undefined> = {};
      (spec.arguments ?? []).forEach((arg, i) => {
        values[arg.name] = actionArgs[i] as string | string[] | undefined;
      });
      const opts = leaf.opts() as Record<string, string | string[] | boolean | undefined>;
      for (const opt of spec.options ?? []) {
        // Every option of the row was added to `leaf` above.
        const option = leaf.options.find((o) => o.long === `--${opt.name}`);
        if (option === undefined) throw new BugError(`option --${opt.name} was not registered`);
        values[opt.name] = opts[option.attributeName()];
      }
      selected = { spec, values };
    });
  }

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') {
      return EXIT_CODES.ok;
    }
    // A group without its subcommand: commander printed the group's help on stderr (and, in
    // --json mode, stdout still gets its one document).
    if (error.code === 'commander.help') {
      if (json) throw new CliError('CLI_USAGE', 'missing command: see `updraft --help`');
      return EXIT_CODES.usage;
    }
    throw new CliError('CLI_USAGE', error.message.replace(/^error: /, ''), {
      details: { reason: error.code.replace(/^commander\./, '') },
    });
  }
  if (selected === undefined) {
    // No command at all: show the overview.
    program.outputHelp({ error: true });
    if (json) throw new CliError('CLI_USAGE', 'missing command: see `updraft --help`');
    return EXIT_CODES.usage;
  }
  return selected;
}

/** Rows sorted by COMMAND_ORDER of their first word (stable; unlisted words last). */
function inHelpOrder(table: readonly CommandSpec[]): CommandSpec[] {
  const rank = (spec: CommandSpec) => {
    const i = COMMAND_ORDER.indexOf(spec.path[0] ?? '');
    return i === -1 ? COMMAND_ORDER.length : i;
  };
  return [...table].sort((a, b) => rank(a) - rank(b));
}

function configure(command: Command, io: CliIo): Command {
  return command
    .exitOverride()
    .allowExcessArguments(false)
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      // Parse errors are rendered by renderError (one line, or JSON), not by commander.
      outputError: () => {},
    });
}

function addGlobalOptions(command: Command): void {
  command
    .option('--json', 'print one JSON document on stdout (errors too)')
    .option('--debug', 'print stack traces of unexpected errors');
}

function toOption(spec: OptionSpec, io: CliIo): Option {
  const flags = `${spec.short === undefined ? '' : `-${spec.short}, `}--${spec.name}${
    spec.value === undefined ? '' : ` <${spec.value}>`
  }`;
  const option = new Option(flags, spec.description);
  if (spec.choices !== undefined) option.choices(spec.choices);
  if (spec.repeatable === true) {
    option.argParser((value: string, previous: string[] | undefined) => [
      ...(previous ?? []),
      value,
    ]);
  }
  if (spec.env !== undefined) {
    const fromEnv = io.env[spec.env];
    // Read from io.env rather than commander's .env(), which reads process.env.
    if (fromEnv !== undefined && fromEnv !== '') option.default(fromEnv, `$${spec.env}`);
    option.description = `${spec.description} (env ${spec.env})`;
  }
  if (spec.required === true) option.makeOptionMandatory(true);
  return option;
}
