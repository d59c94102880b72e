import type { DeviceSummary } from '@updraft/server';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { classNames, resolveClass, serviceClient, table } from '../service.js';

/**
 * `updraft device list [--class] [--tag]... [--attr key=value]... [--name-prefix] [--sort]
 * [--filter <expr>] [--order] [--limit] [--offset]`: one page of devices, with the total.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const className = args.string('class');
  const query = new URLSearchParams();
  if (className !== undefined) query.set('deviceClassId', (await resolveClass(api, className)).id);
  for (const tag of args.strings('tag')) query.append('tag', tag);
  for (const attr of args.strings('attr')) query.append('attr', attr);
  const set = (name: string, value: string | number | undefined) => {
    if (value !== undefined) query.set(name, String(value));
  };
  set('namePrefix', args.string('name-prefix'));
  set('filter', args.string('filter'));
  set('sort', args.string('sort'));
  set('order', args.choice('order', ['asc', 'desc'] as const));
  set('limit', args.integer('limit', 500));
  set('offset', args.integer('offset'));
  const search = query.toString();
  const page = await api.json<{
    items: DeviceSummary[];
    total: number;
    limit: number;
    offset: number;
  }>(`/api/v1/devices${search === '' ? '' : `?${search}`}`);
  const names = await classNames(api);
  ctx.result(page, () =>
    [
      table(
        ['ID', 'NAME', 'CLASS', 'LAST SEEN', 'TAGS'],
        page.items.map((d) => [
          d.id,
          d.name,
          names.get(d.deviceClassId) ?? d.deviceClassId,
          d.lastSeenAt,
          d.tags.join(','),
        ]),
      ),
      `(${page.items.length} of ${page.total}, offset ${page.offset})`,
    ].join('\n'),
  );
  return EXIT_CODES.ok;
}
