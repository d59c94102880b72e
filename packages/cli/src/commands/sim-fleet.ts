import { readFile } from 'node:fs/promises';
import { MAX_FLEET_DEVICES, SimFleet } from '@updraft/sim';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { CliError } from '../errors.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { loadSimTarget, simApplicationFactory } from './sim-common.js';

/**
 * `updraft sim fleet --devices N --image <file> --trusted-key <pem> (--server <url> --tokens-file <f> --vendor-id <uuid> --class-id <uuid> | --offline --release <file> --key <pem>)`:
 * N simulated devices in this process, each with its own flash, bootloader and agent; one round
 * boots every device and runs it until idle. Prints a summary (outcomes, running versions).
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const target = await loadSimTarget(ctx, args);
  const tokensFile = args.string('tokens-file');
  const tokens = tokensFile ? await readTokens(ctx.path(tokensFile)) : [];
  const devices = args.integer('devices', MAX_FLEET_DEVICES) ?? (tokens.length || 10);
  if (devices < 1) throw new CliError('CLI_USAGE', '--devices must be at least 1');
  if (!args.flag('offline') && tokens.length < devices) {
    throw new CliError(
      'CLI_USAGE',
      `--tokens-file has ${tokens.length} tokens for ${devices} devices`,
    );
  }
  const make = await simApplicationFactory(ctx, args, target, tokens);
  const showLog = args.flag('log');
  const fleet = new SimFleet({
    devices,
    layout: target.layout,
    trustedKeys: target.trustedKeys,
    initialImage: target.initialImage,
    ...(target.factoryImage ? { factoryImage: target.factoryImage } : {}),
    application: (index) => make(index).app,
    concurrency: args.integer('concurrency', 10_000) ?? 64,
    ...(showLog ? { onLog: (line: string) => ctx.note(line) } : {}),
  });
  const round = await fleet.runRound();
  ctx.result(round, () => {
    const versions = Object.entries(round.versions)
      .map(([v, n]) => `${v}: ${n}`)
      .join(', ');
    return `${devices} devices in ${round.ms} ms, ${round.boots} boots — idle ${round.outcomes.idle}, bricked ${round.outcomes.bricked}, boot-limit ${round.outcomes['boot-limit']} — running ${versions}`;
  });
  return round.outcomes.bricked > 0 ? EXIT_CODES.failure : EXIT_CODES.ok;
}

async function readTokens(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new CliError('CLI_FILE_NOT_FOUND', `cannot read ${path}`, { cause });
  }
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}
