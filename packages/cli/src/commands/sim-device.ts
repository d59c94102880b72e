import { readFile } from 'node:fs/promises';
import {
  type DeviceOutcome,
  isLayoutName,
  isRunStopped,
  type LayoutSpec,
  type RunStopped,
  SimClock,
  SimDevice,
  SimError,
} from '@updraft/sim';
import { atomicWrite } from '../atomic-write.js';
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

/**
 * `updraft sim device --image <file> --trusted-key <pem> (--server <url> --token <t> --vendor-id <uuid> --class-id <uuid> | --offline --release <file> --key <pem>) [--polls N]`:
 * one simulated microcontroller (flash, MCUboot-like bootloader, the real agent) that checks in,
 * updates, trial-boots and confirms or reverts, printing its boot/update log on stderr.
 * Against a service the device lives in real time, paced (at most one check-in a second, no
 * request while a 429's Retry-After runs) and bounded by `--timeout` / `--max-requests`; a
 * refused token, an unreachable service or endless 429s end it with an error, not "idle".
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const target = await loadSimTarget(ctx, args);
  const token = args.string('token');
  const online = !args.flag('offline');
  // A device that talks to a real service lives in real time (the virtual clock of an offline
  // device once made ~974,000 check-ins in minutes waiting for a maintenance window).
  const clock = online ? serverClock(ctx, args) : null;
  const make = await simApplicationFactory(
    ctx,
    args,
    target,
    token ? [token] : [],
    clock ?? new SimClock(),
  );
  const { app, transport, paced } = make(0);
  const log: string[] = [];
  const stateFile = args.string('state');
  const saved = stateFile ? await readState(ctx.path(stateFile)) : null;
  const device = new SimDevice({
    id: args.string('id') ?? 'sim-device',
    layout: saved?.layout ?? target.layout,
    ...(saved ? { restoreFlash: saved.flash } : {}),
    trustedKeys: target.trustedKeys,
    initialImage: target.initialImage,
    ...(target.factoryImage ? { factoryImage: target.factoryImage } : {}),
    ...(clock ? { clock } : {}),
    application: app,
    onLog: (line) => {
      log.push(line);
      ctx.note(line);
    },
  });
  const polls = args.integer('polls', 10_000) ?? 1;
  const interval = args.integer('poll-interval-ms', 3_600_000) ?? 1000;
  let outcome: DeviceOutcome = 'idle';
  let stop: RunStopped | null = null;
  for (let i = 0; i < polls && outcome === 'idle'; i++) {
    if (i > 0) {
      try {
        await (clock ?? realSleep).sleep(interval);
      } catch (error) {
        if (!isRunStopped(error)) throw error;
        outcome = 'stopped';
        stop = error;
        break;
      }
    }
    outcome = await device.runUntilIdle();
    stop = device.stopped;
  }
  if (stateFile) {
    const state = {
      format: STATE_FORMAT,
      layout: device.layout.spec,
      flash: Buffer.from(device.flashContents()).toString('base64'),
    };
    await atomicWrite(ctx.path(stateFile), JSON.stringify(state), { mode: 0o644, overwrite: true });
  }
  const running = device.running;
  const summary = {
    id: device.id,
    outcome,
    slot: running?.slot ?? null,
    version: running?.image.versionString ?? null,
    boots: device.boots.length,
    ...(paced ? { requests: paced.requests, rateLimited: paced.rateLimited } : {}),
  };
  // Failures of the service (a refused token, a dead server, endless 429s) are errors, not idle.
  const failure = paced ? serverFailure(stop?.cause ?? paced.lastFailure) : null;
  if (failure) throw withDetails(failure, summary);
  if (stop) {
    if (stop.reason === 'interrupted') throw new CliError('CLI_INTERRUPTED', 'interrupted');
    const agent = await agentState(device);
    throw new SimError(
      'SIM_RUN_INCOMPLETE',
      `stopped (${stop.reason}) after ${paced?.requests ?? 0} requests with the agent in ${agent.state}${agent.waiting}`,
      { details: { ...summary, reason: stop.reason, agentState: agent.state } },
    );
  }
  const last = 'outcome' in transport ? (transport as { outcome: unknown }).outcome : undefined;
  ctx.result(
    { ...summary, ...(last !== undefined ? { report: last } : {}), log },
    `${device.id}: ${outcome}, running ${running?.image.versionString ?? 'nothing'} from slot ${running?.slot ?? '-'} after ${device.boots.length} boot(s)`,
  );
  return outcome === 'bricked' ? EXIT_CODES.failure : EXIT_CODES.ok;
}

const realSleep = { sleep: (ms: number) => new Promise((r) => setTimeout(r, ms)) };

function withDetails(error: SimError, details: Record<string, unknown>): SimError {
  return new SimError(error.code, error.message, {
    cause: error.cause,
    details: { ...error.details, ...details },
  });
}

/** Where the agent stopped, from its journal in the device's flash (for the message). */
async function agentState(device: SimDevice): Promise<{ state: string; waiting: string }> {
  const journal = await agentJournal(device);
  if (journal === null) return { state: 'Idle', waiting: '' };
  if (journal === 'unreadable') return { state: 'an unreadable journal', waiting: '' };
  const window = journal.action?.action.maintenanceWindow;
  return {
    state: journal.state,
    waiting:
      journal.state === 'InstallWait' && window
        ? ` (waiting for the maintenance window ${window.start} – ${window.end})`
        : '',
  };
}

const STATE_FORMAT = 'updraft-sim-state/1';
const MAX_STATE_BYTES = 256 * 1024 * 1024;

/** Reads a device state saved by an earlier `--state` run; null when the file does not exist yet. */
async function readState(path: string): Promise<{ layout: LayoutSpec; flash: Uint8Array } | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CliError('CLI_FILE_UNREADABLE', `cannot read ${path}`, { cause: error });
  }
  if (text.length > MAX_STATE_BYTES)
    throw new CliError('CLI_FILE_TOO_LARGE', `${path} is too large`);
  let state: { format?: unknown; layout?: Partial<LayoutSpec>; flash?: unknown };
  try {
    state = JSON.parse(text);
  } catch (cause) {
    throw new CliError('CLI_CONFIG_INVALID', `${path} is not a sim device state`, { cause });
  }
  const l = state.layout;
  const sizes = (v: unknown) =>
    Array.isArray(v)
      ? v.every((n) => Number.isInteger(n) && n > 0 && n <= 1 << 24)
      : Number.isInteger(v) && (v as number) > 0 && (v as number) <= 1 << 24;
  if (
    state.format !== STATE_FORMAT ||
    typeof state.flash !== 'string' ||
    !l ||
    !isLayoutName(l.name) ||
    !sizes(l.slotSectors) ||
    !sizes(l.trailerSectorSize) ||
    !sizes(l.journalSectorSize) ||
    !sizes(l.bootStateSectorSize) ||
    ![4, 8, 16].includes(l.writeAlign as number) ||
    ![0xff, 0x00].includes(l.erasedValue as number)
  ) {
    throw new CliError('CLI_CONFIG_INVALID', `${path} is not a sim device state`);
  }
  return { layout: l as LayoutSpec, flash: new Uint8Array(Buffer.from(state.flash, 'base64')) };
}
