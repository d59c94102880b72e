import type { DeviceClassView } from '@updraft/server';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { CliError } from '../errors.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { serviceClient } from '../service.js';

/**
 * `updraft class create <name> (--vendor <domain> | --vendor-id <uuid>) (--model <name> |
 * --class-id <uuid>)`: ids from names are derived as SUIT prescribes (UUIDv5), the same way
 * `manifest create` derives them, so releases and classes match.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const name = args.requiredString('name');
  const vendor = args.string('vendor');
  const vendorId = args.string('vendor-id');
  const model = args.string('model');
  const classId = args.string('class-id');
  if ((vendor === undefined) === (vendorId === undefined)) {
    throw new CliError('CLI_USAGE', 'give exactly one of --vendor <domain> or --vendor-id <uuid>');
  }
  if ((model === undefined) === (classId === undefined)) {
    throw new CliError('CLI_USAGE', 'give exactly one of --model <name> or --class-id <uuid>');
  }
  const api = await serviceClient(ctx, args);
  const created = await api.json<DeviceClassView>('/api/v1/device-classes', {
    method: 'POST',
    body: {
      name,
      ...(vendor === undefined ? { vendorId } : { vendorName: vendor }),
      ...(model === undefined ? { classId } : { modelName: model }),
    },
  });
  ctx.result(
    created,
    `created device class ${created.name} (${created.id})\n  vendor-id ${created.vendorId}\n  class-id  ${created.classId}`,
  );
  return EXIT_CODES.ok;
}
