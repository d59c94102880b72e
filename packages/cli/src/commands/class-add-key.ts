import type { TrustedKeyView } from '@updraft/server';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { readTrustedKeyFile } from '../key-files.js';
import { resolveClass, seg, serviceClient } from '../service.js';

/**
 * `updraft class add-key <class> <public key file>`: trust a release-signing public key (PEM or
 * COSE_Key) for a class. A private key file is refused (`CLI_KEY_PRIVATE`): only public keys go
 * near the service.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const file = await readTrustedKeyFile(ctx.path(args.requiredString('key')));
  const api = await serviceClient(ctx, args);
  const cls = await resolveClass(api, args.requiredString('class'));
  const key = await api.json<TrustedKeyView>(`/api/v1/device-classes/${seg(cls.id)}/keys`, {
    method: 'POST',
    body: { format: file.format, key: file.text },
  });
  ctx.result(key, `class ${cls.name} now trusts key ${key.id} (${key.algorithm}, kid ${key.kid})`);
  return EXIT_CODES.ok;
}
