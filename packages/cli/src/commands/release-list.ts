import type { Release } from '@updraft/server';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { classNames, resolveClass, serviceClient, table } from '../service.js';

/** `updraft release list [--class <class>] [--limit <n>]`, newest first. */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const className = args.string('class');
  const deviceClassId =
    className === undefined ? undefined : (await resolveClass(api, className)).id;
  const { items } = await api.json<{ items: Release[] }>('/api/v1/releases', {
    query: { deviceClassId, limit: args.integer('limit', 500) },
  });
  const names = await classNames(api);
  ctx.result({ items }, () =>
    table(
      ['ID', 'VERSION', 'SEQUENCE', 'CLASS', 'COMPONENTS', 'CREATED'],
      items.map((r) => [
        r.id,
        r.version,
        r.sequenceNumber,
        names.get(r.deviceClassId) ?? r.deviceClassId,
        r.components.length,
        r.createdAt,
      ]),
    ),
  );
  return EXIT_CODES.ok;
}
