import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { CliError } from '../errors.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { parseDuration } from '../parse-duration.js';
import { resolveDevice, resolveReleaseId, serviceClient } from '../service.js';
import { type ActionView, describeAction } from './action-show.js';

/**
 * `updraft action assign <device> <release> [--action forced|soft|download-only|time-forced]
 * [--force-after <iso>] [--download-only] [--window-start <iso> --window-end <iso>]
 * [--window '<cron>' --window-duration <d> [--window-tz <tz>]]`: one open action per device.
 * The cron expression and zone are checked by the service (ACTION_WINDOW_INVALID).
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const start = args.string('window-start');
  const end = args.string('window-end');
  if ((start === undefined) !== (end === undefined)) {
    throw new CliError(
      'CLI_USAGE',
      'give both --window-start and --window-end (ISO 8601), or neither',
    );
  }
  for (const [name, value] of [
    ['window-start', start],
    ['window-end', end],
  ] as const) {
    if (value !== undefined && Number.isNaN(Date.parse(value))) {
      throw new CliError('CLI_USAGE', `--${name} must be an ISO 8601 date-time (got "${value}")`);
    }
  }
  const cron = args.string('window');
  const durationText = args.string('window-duration');
  const timeZone = args.string('window-tz');
  if (cron === undefined && (durationText !== undefined || timeZone !== undefined)) {
    throw new CliError('CLI_USAGE', '--window-duration and --window-tz go with --window');
  }
  if (cron !== undefined && durationText === undefined) {
    throw new CliError('CLI_USAGE', "--window '<cron>' needs --window-duration (e.g. 30m, 2h)");
  }
  const recurringWindow =
    cron === undefined
      ? undefined
      : {
          cron,
          durationSeconds: parseDuration(durationText as string, 'window-duration'),
          timeZone: timeZone ?? 'UTC',
        };
  const type = args.string('action');
  const forceAfter = args.string('force-after');
  if (forceAfter !== undefined && Number.isNaN(Date.parse(forceAfter))) {
    throw new CliError(
      'CLI_USAGE',
      `--force-after must be an ISO 8601 date-time (got "${forceAfter}")`,
    );
  }
  const api = await serviceClient(ctx, args);
  const device = await resolveDevice(api, args.requiredString('device'));
  // A version is looked up among the device's class's releases: two classes may both have 1.1.0.
  const releaseId = await resolveReleaseId(
    api,
    args.requiredString('release'),
    device.deviceClassId,
  );
  const action = await api.json<ActionView>('/api/v1/actions', {
    method: 'POST',
    body: {
      deviceId: device.id,
      releaseId,
      ...(args.flag('download-only') ? { downloadOnly: true } : {}),
      ...(type === undefined ? {} : { type }),
      ...(forceAfter === undefined ? {} : { forceAfter: new Date(forceAfter).toISOString() }),
      ...(start === undefined ? {} : { maintenanceWindow: { start, end } }),
      ...(recurringWindow === undefined ? {} : { recurringWindow }),
    },
  });
  ctx.result(action, () => `assigned: ${describeAction(action)}`);
  return EXIT_CODES.ok;
}
