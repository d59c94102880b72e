import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { serviceClient } from '../service.js';

/**
 * `updraft pki token create <device> [--expires-in <seconds>]`: a one-time enrollment token,
 * shown once. The device sends it as HTTP Basic password (user = its name) to EST `simpleenroll`.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const expiresIn = args.integer('expires-in', 31_536_000);
  const created = await api.json<{ token: string; expiresAt: string; deviceId: string }>(
    '/api/v1/pki/enrollment-tokens',
    {
      method: 'POST',
      body: {
        device: args.requiredString('device'),
        ...(expiresIn === undefined ? {} : { expiresInSeconds: expiresIn }),
      },
    },
  );
  ctx.result(
    created,
    [
      created.token,
      `  one-time enrollment token for device ${created.deviceId}, expires ${created.expiresAt}`,
      '  shown only now; e.g. curl -u <device name>:<token> --data-binary @csr.b64 -H "Content-Type: application/pkcs10" <server>/.well-known/est/simpleenroll',
    ].join('\n'),
  );
  return EXIT_CODES.ok;
}
