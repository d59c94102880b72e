import { readFile } from 'node:fs/promises';
import { MAX_FLEET_DEVICES, SimClock, SimError, type SimErrorCode, SimFleet } from '@updraft/sim';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { CliError } from '../errors.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { loadSimTarget, serverClock, serverFailure, simApplicationFactory } from './sim-common.js';

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
  const online = !args.flag('offline');
  const clock = online ? serverClock(ctx, args) : null;
  const make = await simApplicationFactory(ctx, args, target, tokens, clock ?? new SimClock());
  const apps = Array.from({ length: devices }, (_, index) => make(index));
  const showLog = args.flag('log');
  const fleet = new SimFleet({
    devices,
    layout: target.layout,
    trustedKeys: target.trustedKeys,
    initialImage: target.initialImage,
    ...(target.factoryImage ? { factoryImage: target.factoryImage } : {}),
    application: (index) => apps[index]!.app,
    ...(clock ? { clock: () => clock } : {}),
    concurrency: args.integer('concurrency', 10_000) ?? 64,
    ...(showLog ? { onLog: (line: string) => ctx.note(line) } : {}),
  });
  const round = await fleet.runRound();
  // Service failures per code (a refused token, an unreachable service, endless 429s).
  const failures: Record<string, number> = {};
  let incomplete = 0;
  fleet.devices.forEach((device, index) => {
    const paced = apps[index]?.paced;
    const failure = paced ? serverFailure(device.stopped?.cause ?? paced.lastFailure) : null;
    if (failure) failures[failure.code] = (failures[failure.code] ?? 0) + 1;
    else if (device.stopped) incomplete += 1;
  });
  if (ctx.io.signal?.aborted) throw new CliError('CLI_INTERRUPTED', 'interrupted');
  const requests = apps.reduce((n, a) => n + (a.paced?.requests ?? 0), 0);
  const failed = Object.values(failures).reduce((a, b) => a + b, 0);
  if (failed === devices) {
    // Every device failed: the (most common) code is the command's error.
    const [code] = Object.entries(failures).sort((a, b) => b[1] - a[1])[0] ?? [
      'SIM_SERVER_UNREACHABLE',
    ];
    throw new SimError(code as SimErrorCode, `every device failed (${JSON.stringify(failures)})`, {
      details: { ...round, failures, requests },
    });
  }
  ctx.result({ ...round, failures, ...(online ? { requests } : {}) }, () => {
    const versions = Object.entries(round.versions)
      .map(([v, n]) => `${v}: ${n}`)
      .join(', ');
    return `${devices} devices in ${round.ms} ms, ${round.boots} boots — idle ${round.outcomes.idle}, bricked ${round.outcomes.bricked}, boot-limit ${round.outcomes['boot-limit']}, stopped ${round.outcomes.stopped}${failed > 0 ? ` — service failures ${JSON.stringify(failures)}` : ''} — running ${versions}`;
  });
  if (round.outcomes.bricked > 0) return EXIT_CODES.failure;
  if (failed > 0) return EXIT_CODES.service;
  // Stopped by --timeout/--max-requests before idle (SIM_RUN_INCOMPLETE for one device).
  return incomplete > 0 ? EXIT_CODES.other : EXIT_CODES.ok;
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
