import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { CliError } from '../errors.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { resolveDevice, resolveReleaseId, serviceClient } from '../service.js';
import { type ActionView, describeAction } from './action-show.js';

/**
 * `updraft action assign <device> <release> [--download-only] [--window-start <iso>
 * --window-end <iso>]`: one open action per device.
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
      ...(start === undefined ? {} : { maintenanceWindow: { start, end } }),
    },
  });
  ctx.result(action, () => `assigned: ${describeAction(action)}`);
  return EXIT_CODES.ok;
}
