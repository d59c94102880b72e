import { readFile } from 'node:fs/promises';
import {
  DEFAULT_FAULT_SEED,
  type DeviceOutcome,
  MAX_FLEET_DEVICES,
  SimClock,
  type SimDevice,
  SimError,
  type SimErrorCode,
  SimFleet,
} from '@updraft/sim';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { CliError } from '../errors.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import {
  agentJournal,
  loadSimTarget,
  serverClock,
  serverFailure,
  simApplicationFactory,
} from './sim-common.js';
import { enrollSimDevices, type SimIdentities } from './sim-mtls.js';

/** Longest `--duration` (30 days, as `--timeout`) and `--poll-interval` (7 days, the agent's cap). */
const MAX_DURATION_S = 30 * 24 * 3600;
const MAX_POLL_INTERVAL_S = 7 * 24 * 3600;

/**
 * `updraft sim fleet --devices N --image <file> --trusted-key <pem> (--server <url> --tokens-file <f> --vendor-id <uuid> --class-id <uuid> | --offline --release <file> --key <pem>) [--duration <s>] [--poll-interval <s>] [--fault-rate <0..1>]`:
 * N simulated devices in this process, each with its own flash, bootloader and agent; one round
 * boots every device and runs it until idle, or with `--duration` keeps every device polling
 * until that time is up (a rollout rehearsal). Prints a summary (outcomes, running versions,
 * updates installed and reverted, requests).
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const online = !args.flag('offline');
  const rehearsal = readRehearsal(args, online);
  const target = await loadSimTarget(ctx, args);
  const tokensFile = args.string('tokens-file');
  const entries = tokensFile ? await readTokens(ctx.path(tokensFile)) : [];
  const devices = args.integer('devices', MAX_FLEET_DEVICES) ?? (entries.length || 10);
  if (devices < 1) throw new CliError('CLI_USAGE', '--devices must be at least 1');
  if (online && entries.length < devices) {
    throw new CliError(
      'CLI_USAGE',
      `--tokens-file has ${entries.length} tokens for ${devices} devices`,
    );
  }
  const { duration, pollInterval } = rehearsal;
  const clock = online ? serverClock(ctx, args, duration) : null;
  const identities = args.flag('mtls') ? await fleetIdentities(ctx, args, entries, devices) : null;
  try {
    const make = await simApplicationFactory(
      ctx,
      args,
      target,
      entries.map((e) => e.token),
      clock ?? new SimClock(),
      {
        ...(duration === undefined ? {} : { continuous: true }),
        ...(pollInterval === undefined ? {} : { pollIntervalSeconds: pollInterval }),
      },
      identities,
    );
    const apps = Array.from({ length: devices }, (_, index) => make(index));
    const showLog = args.flag('log');
    const named = entries.some((e) => e.name !== undefined);
    const fleet = new SimFleet({
      devices,
      layout: target.layout,
      trustedKeys: target.trustedKeys,
      initialImage: target.initialImage,
      ...(target.factoryImage ? { factoryImage: target.factoryImage } : {}),
      application: (index) => apps[index]!.app,
      ...(clock ? { clock: () => clock } : {}),
      ...(named
        ? {
            name: (index: number) =>
              entries[index]?.name ?? `sim-${String(index).padStart(5, '0')}`,
          }
        : {}),
      faultRate: rehearsal.faultRate,
      faultSeed: rehearsal.faultSeed,
      concurrency: fleetConcurrency(args, devices, duration),
      ...(showLog ? { onLog: (line: string) => ctx.note(line) } : {}),
    });
    // A rehearsal's devices update several times (later phases, later campaigns): more boots.
    const round = await fleet.runRound(duration === undefined ? 50 : 1000);
    if (ctx.io.signal?.aborted) throw new CliError('CLI_INTERRUPTED', 'interrupted');
    // Service failures per code (a refused token, an unreachable service, endless 429s).
    const failures: Record<string, number> = {};
    let incomplete = 0;
    fleet.devices.forEach((device, index) => {
      const paced = apps[index]?.paced;
      const failure = paced ? serverFailure(device.stopped?.cause ?? paced.lastFailure) : null;
      if (failure) failures[failure.code] = (failures[failure.code] ?? 0) + 1;
      else if (device.stopped && !endedOnTime(device, duration)) incomplete += 1;
    });
    const outcomes =
      duration === undefined ? round.outcomes : await rehearsalOutcomes(fleet, round.outcomes);
    const updates = { installed: 0, failed: 0, reverted: 0 };
    for (const { app } of apps) {
      updates.installed += app.tally.installed;
      updates.failed += app.tally.failed;
      updates.reverted += app.tally.reverted;
    }
    const requests = apps.reduce((n, a) => n + (a.paced?.requests ?? 0), 0);
    const failed = Object.values(failures).reduce((a, b) => a + b, 0);
    const summary = {
      ...round,
      outcomes,
      updates,
      failures,
      ...(online ? { requests } : {}),
      ...(duration === undefined ? {} : { duration }),
      ...(pollInterval === undefined ? {} : { pollInterval }),
      ...(rehearsal.faultRate > 0
        ? { faultRate: rehearsal.faultRate, faultSeed: rehearsal.faultSeed }
        : {}),
    };
    if (failed === devices) {
      // Every device failed: the (most common) code is the command's error.
      const [code] = Object.entries(failures).sort((a, b) => b[1] - a[1])[0] ?? [
        'SIM_SERVER_UNREACHABLE',
      ];
      throw new SimError(
        code as SimErrorCode,
        `every device failed (${JSON.stringify(failures)})`,
        {
          details: summary,
        },
      );
    }
    ctx.result(summary, () => {
      const versions = Object.entries(round.versions)
        .map(([v, n]) => `${v}: ${n}`)
        .join(', ');
      const ends = Object.entries(outcomes)
        .map(([o, n]) => `${o} ${n}`)
        .join(', ');
      return `${devices} devices in ${round.ms} ms, ${round.boots} boots — ${ends}${failed > 0 ? ` — service failures ${JSON.stringify(failures)}` : ''} — updates installed ${updates.installed}, failed ${updates.failed} (reverted ${updates.reverted})${round.faulty > 0 ? `, ${round.faulty} faulty devices` : ''}${online ? `, ${requests} requests` : ''} — running ${versions}`;
    });
    if (round.outcomes.bricked > 0) return EXIT_CODES.failure;
    if (failed > 0) return EXIT_CODES.service;
    // Stopped by --timeout/--max-requests before idle (SIM_RUN_INCOMPLETE for one device).
    return incomplete > 0 ? EXIT_CODES.other : EXIT_CODES.ok;
  } finally {
    await identities?.close();
  }
}

// `--mtls`: every line of --tokens-file names a device (a token after the name is not needed).
async function fleetIdentities(
  ctx: CommandContext,
  args: CommandArgs,
  entries: readonly TokenEntry[],
  devices: number,
): Promise<SimIdentities> {
  const server = args.string('server');
  if (server === undefined || args.flag('offline')) {
    throw new CliError('CLI_USAGE', '--mtls needs --server (devices enroll over EST)');
  }
  const names = entries.slice(0, devices).map((e) => e.name ?? e.token);
  return enrollSimDevices(ctx, args, server, names);
}

/**
 * Devices running at once: `--concurrency` (default 64) for a round; every device with
 * `--duration`, whose devices run until the time is up (one started later would find it gone).
 */
function fleetConcurrency(args: CommandArgs, devices: number, duration: number | undefined) {
  const asked = args.integer('concurrency', MAX_FLEET_DEVICES);
  if (duration === undefined) return asked ?? 64;
  if (asked !== undefined && asked < devices) {
    throw new CliError(
      'CLI_USAGE',
      `with --duration every device runs at once: --concurrency ${asked} is below --devices ${devices}`,
    );
  }
  return devices;
}

/** What `--duration`, `--poll-interval`, `--fault-rate` and `--fault-seed` ask for, validated. */
interface Rehearsal {
  readonly duration: number | undefined;
  readonly pollInterval: number | undefined;
  readonly faultRate: number;
  readonly faultSeed: string;
}

function readRehearsal(args: CommandArgs, online: boolean): Rehearsal {
  const duration = seconds(args, 'duration', MAX_DURATION_S);
  const pollInterval = seconds(args, 'poll-interval', MAX_POLL_INTERVAL_S);
  if (!online && (duration !== undefined || pollInterval !== undefined)) {
    throw new CliError('CLI_USAGE', '--duration and --poll-interval need --server');
  }
  if (duration !== undefined && args.string('timeout') !== undefined) {
    throw new CliError('CLI_USAGE', '--duration and --timeout exclude each other');
  }
  const rawRate = args.string('fault-rate');
  let faultRate = 0;
  if (rawRate !== undefined) {
    faultRate = /^(?:0|1|0?\.\d{1,12}|[01]\.\d{1,12})$/.test(rawRate)
      ? Number(rawRate)
      : Number.NaN;
    if (!(faultRate >= 0 && faultRate <= 1)) {
      throw invalid(
        '--fault-rate must be a fraction from 0 to 1 (e.g. 0.05)',
        'fault-rate',
        rawRate,
      );
    }
  }
  const faultSeed = args.string('fault-seed') ?? DEFAULT_FAULT_SEED;
  if (faultSeed.length === 0 || faultSeed.length > 256) {
    throw invalid('--fault-seed must be 1 to 256 characters', 'fault-seed', faultSeed);
  }
  return { duration, pollInterval, faultRate, faultSeed };
}

function seconds(args: CommandArgs, name: string, max: number): number | undefined {
  const raw = args.string(name);
  if (raw === undefined) return undefined;
  const value = /^\d{1,16}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(value >= 1 && value <= max)) {
    throw invalid(`--${name} must be a whole number of seconds from 1 to ${max}`, name, raw);
  }
  return value;
}

const invalid = (message: string, option: string, value: string) =>
  new SimError('SIM_CONFIG_INVALID', message, { details: { option, value } });

/** True when `device` was stopped by the end of `--duration`: the normal end of a rehearsal. */
function endedOnTime(device: SimDevice, duration: number | undefined): boolean {
  return duration !== undefined && device.stopped?.reason === 'deadline';
}

/**
 * Device endings of a `--duration` run: a device the deadline stopped is `idle` when its agent
 * held no update then, `updating` when it was still in one; other endings as in a round.
 */
async function rehearsalOutcomes(
  fleet: SimFleet,
  round: Readonly<Record<DeviceOutcome, number>>,
): Promise<Record<DeviceOutcome | 'updating', number>> {
  const outcomes = { ...round, updating: 0 };
  for (const device of fleet.devices) {
    if (device.stopped?.reason !== 'deadline') continue;
    const journal = await agentJournal(device);
    outcomes.stopped -= 1;
    if (journal === null || (journal !== 'unreadable' && journal.action === null))
      outcomes.idle += 1;
    else outcomes.updating += 1;
  }
  return outcomes;
}

/** One line of `--tokens-file`: `<token>`, or `<device name> <token>`. */
interface TokenEntry {
  readonly name?: string;
  readonly token: string;
}

async function readTokens(path: string): Promise<TokenEntry[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new CliError('CLI_FILE_NOT_FOUND', `cannot read ${path}`, { cause });
  }
  const entries: TokenEntry[] = [];
  for (const [n, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [first = '', second, ...rest] = line.split(/\s+/);
    if (rest.length > 0) {
      throw new CliError(
        'CLI_USAGE',
        `${path}:${n + 1}: a line is a token, or a device name and a token`,
      );
    }
    entries.push(second === undefined ? { token: first } : { name: first, token: second });
  }
  return entries;
}
