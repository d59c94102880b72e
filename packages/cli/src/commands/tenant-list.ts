import type { TenantView } from '@updraft/server';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { serviceClient, table } from '../service.js';

/** `updraft tenant list`: every tenant (installation admins only). */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const page = await api.json<{ items: TenantView[] }>('/api/v1/tenants');
  ctx.result(page, () =>
    table(
      ['ID', 'NAME', 'CREATED'],
      page.items.map((t) => [t.id, t.name, t.createdAt]),
    ),
  );
  return EXIT_CODES.ok;
}
