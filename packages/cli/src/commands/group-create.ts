import type { DeviceGroup } from '@updraft/server';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { CliError } from '../errors.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { serviceClient } from '../service.js';

/**
 * `updraft group create <name> (--devices a,b,c | --filter '<expr>')`: a static group of the listed
 * devices (ids or names) or a dynamic group whose members are whatever matches the filter.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const devices = args.string('devices');
  const filter = args.string('filter');
  if ((devices === undefined) === (filter === undefined))
    throw new CliError(
      'CLI_USAGE',
      'give either --devices (static group) or --filter (dynamic group)',
    );
  const api = await serviceClient(ctx, args);
  const group = await api.json<DeviceGroup>('/api/v1/groups', {
    method: 'POST',
    body: {
      name: args.requiredString('name'),
      ...(filter === undefined
        ? {
            devices: (devices ?? '')
              .split(',')
              .map((d) => d.trim())
              .filter((d) => d !== ''),
          }
        : { filter }),
    },
  });
  ctx.result(group, `created ${group.kind} group ${group.name} (${group.id})`);
  return EXIT_CODES.ok;
}
