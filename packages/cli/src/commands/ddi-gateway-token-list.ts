import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { serviceClient, table } from '../service.js';

interface GatewayTokenView {
  readonly id: string;
  readonly name: string;
  readonly deviceClassId: string | null;
  readonly createdAt: string;
  readonly revokedAt: string | null;
}

/** `updraft ddi gateway-token list`: the tenant's hawkBit DDI gateway tokens (never the secret). */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const page = await api.json<{ items: GatewayTokenView[] }>('/api/v1/ddi/gateway-tokens');
  ctx.result(page, () =>
    table(
      ['ID', 'NAME', 'CLASS', 'CREATED', 'REVOKED'],
      page.items.map((t) => [t.id, t.name, t.deviceClassId, t.createdAt, t.revokedAt]),
    ),
  );
  return EXIT_CODES.ok;
}
