import { stat } from 'node:fs/promises';
import type { TrustedKeyView } from '@updraft/server';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { CliError } from '../errors.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { readTrustedKeyFile } from '../key-files.js';
import { resolveClass, seg, serviceClient } from '../service.js';

/**
 * `updraft class revoke-key <class> <key id | kid | public key file> [--reason <text>]`: releases
 * signed by the key can no longer be assigned. A file is read as `class add-key` reads it (PEM or
 * COSE_Key) and its kid computed the same way.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const given = args.requiredString('key');
  const reason = args.string('reason');
  const path = ctx.path(given);
  const kid = (await isFile(path)) ? (await readTrustedKeyFile(path)).kid : undefined;
  const api = await serviceClient(ctx, args);
  const cls = await resolveClass(api, args.requiredString('class'));
  const { items } = await api.json<{ items: TrustedKeyView[] }>(
    `/api/v1/device-classes/${seg(cls.id)}/keys`,
  );
  const key =
    kid === undefined
      ? items.find((k) => k.id === given || k.kid === given.toLowerCase())
      : items.find((k) => k.kid === kid);
  if (key === undefined) {
    throw new CliError(
      'CLI_USAGE',
      kid === undefined
        ? `class ${cls.name} has no key with id or kid "${given}"`
        : `class ${cls.name} does not trust the key in ${given} (kid ${kid})`,
      { details: { class: cls.name, key: given, ...(kid === undefined ? {} : { kid }) } },
    );
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

/** True when `path` names an existing file (a key id or kid names none). */
async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
