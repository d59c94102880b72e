import type { DeviceGroup } from '@updraft/server';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { serviceClient, table } from '../service.js';

/** `updraft group list`: every device group of the tenant. */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const answer = await api.json<{ items: DeviceGroup[] }>('/api/v1/groups');
  ctx.result(answer, () =>
    table(
      ['ID', 'NAME', 'KIND', 'FILTER'],
      answer.items.map((g) => [g.id, g.name, g.kind, g.filter ?? '-']),
    ),
  );
  return EXIT_CODES.ok;
}
