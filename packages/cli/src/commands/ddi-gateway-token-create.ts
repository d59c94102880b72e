import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { resolveClass, serviceClient } from '../service.js';

/**
 * `updraft ddi gateway-token create <name> [--class <class>]`: a hawkBit DDI gateway token
 * (`Authorization: GatewayToken …`), shown once; with `--class` it acts only for that class.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const className = args.string('class');
  const deviceClassId = className === undefined ? null : (await resolveClass(api, className)).id;
  const created = await api.json<{ token: string; info: { id: string; name: string } }>(
    '/api/v1/ddi/gateway-tokens',
    { method: 'POST', body: { name: args.requiredString('name'), deviceClassId } },
  );
  ctx.result(
    created,
    `gateway token ${created.info.id} (${created.info.name}), shown once:\n${created.token}`,
  );
  return EXIT_CODES.ok;
}
