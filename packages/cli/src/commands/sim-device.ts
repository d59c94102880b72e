import { SimDevice } from '@updraft/sim';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
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
  const device = new SimDevice({
    id: args.string('id') ?? 'sim-device',
    layout: target.layout,
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
