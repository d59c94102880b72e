import type { DeviceClassView } from '@updraft/server';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { serviceClient, table } from '../service.js';

/** `updraft class list` */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const { items } = await api.json<{ items: DeviceClassView[] }>('/api/v1/device-classes');
  ctx.result({ items }, () =>
    table(
      ['ID', 'NAME', 'VENDOR-ID', 'CLASS-ID'],
      items.map((c) => [c.id, c.name, c.vendorId, c.classId]),
    ),
  );
  return EXIT_CODES.ok;
}
