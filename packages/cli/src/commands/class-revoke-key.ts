import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { CliError } from '../errors.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { resolveClass, seg, serviceClient } from '../service.js';
import type { TrustedKeyView } from './class-add-key.js';

/**
 * `updraft class revoke-key <class> <key id | kid> [--reason <text>]`: releases signed by the key
 * can no longer be assigned.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const wanted = args.requiredString('key');
  const reason = args.string('reason');
  const api = await serviceClient(ctx, args);
  const cls = await resolveClass(api, args.requiredString('class'));
  const { items } = await api.json<{ items: TrustedKeyView[] }>(
    `/api/v1/device-classes/${seg(cls.id)}/keys`,
  );
  const key = items.find((k) => k.id === wanted || k.kid === wanted.toLowerCase());
  if (key === undefined) {
    throw new CliError('CLI_USAGE', `class ${cls.name} has no key with id or kid "${wanted}"`);
  }
  const revoked = await api.json<TrustedKeyView>(
    `/api/v1/device-classes/${seg(cls.id)}/keys/${seg(key.id)}/revoke`,
    { method: 'POST', body: reason === undefined ? {} : { reason } },
  );
  ctx.result(
    revoked,
    `revoked key ${revoked.id} (kid ${revoked.kid}) of class ${cls.name} at ${revoked.revokedAt}`,
  );
  return EXIT_CODES.ok;
}
