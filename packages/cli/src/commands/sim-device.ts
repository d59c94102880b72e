import { readFile } from 'node:fs/promises';
import { isLayoutName, type LayoutSpec, SimDevice } from '@updraft/sim';
import { atomicWrite } from '../atomic-write.js';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { CliError } from '../errors.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { loadSimTarget, simApplicationFactory } from './sim-common.js';

/**
 * `updraft sim device --image <file> --trusted-key <pem> (--server <url> --token <t> --vendor-id <uuid> --class-id <uuid> | --offline --release <file> --key <pem>) [--polls N]`:
 * one simulated microcontroller (flash, MCUboot-like bootloader, the real agent) that checks in,
 * updates, trial-boots and confirms or reverts, printing its boot/update log on stderr.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const target = await loadSimTarget(ctx, args);
  const token = args.string('token');
  const make = await simApplicationFactory(ctx, args, target, token ? [token] : []);
  const { app, transport } = make(0);
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
    application: app,
    onLog: (line) => {
      log.push(line);
      ctx.note(line);
    },
  });
  const polls = args.integer('polls', 10_000) ?? 1;
  let outcome = 'idle';
  for (let i = 0; i < polls && outcome === 'idle'; i++) {
    if (i > 0)
      await new Promise((r) => setTimeout(r, args.integer('poll-interval-ms', 3_600_000) ?? 1000));
    outcome = await device.runUntilIdle();
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
  const last = 'outcome' in transport ? (transport as { outcome: unknown }).outcome : undefined;
  ctx.result(
    {
      id: device.id,
      outcome,
      slot: running?.slot ?? null,
      version: running?.image.versionString ?? null,
      boots: device.boots.length,
      ...(last !== undefined ? { report: last } : {}),
      log,
    },
    `${device.id}: ${outcome}, running ${running?.image.versionString ?? 'nothing'} from slot ${running?.slot ?? '-'} after ${device.boots.length} boot(s)`,
  );
  return outcome === 'bricked' ? EXIT_CODES.failure : EXIT_CODES.ok;
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
