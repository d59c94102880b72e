import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { readPublicKey } from '../key-files.js';
import { resolveClass, seg, serviceClient } from '../service.js';

/** A trusted key as the service describes it. */
export interface TrustedKeyView {
  readonly id: string;
  readonly kid: string;
  readonly algorithm: string;
  readonly revokedAt: string | null;
}

/**
 * `updraft class add-key <class> <public key>`: trust a release-signing public key for a class.
 * Only the public half is sent (a private key file is reduced to it locally).
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const publicKey = await readPublicKey(ctx.path(args.requiredString('key')), 'public key');
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const api = await serviceClient(ctx, args);
  const cls = await resolveClass(api, args.requiredString('class'));
  const key = await api.json<TrustedKeyView>(`/api/v1/device-classes/${seg(cls.id)}/keys`, {
    method: 'POST',
    body: { format: 'pem', key: pem },
  });
  ctx.result(key, `class ${cls.name} now trusts key ${key.id} (${key.algorithm}, kid ${key.kid})`);
  return EXIT_CODES.ok;
}
