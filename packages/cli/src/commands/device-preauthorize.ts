import type { MenderAuthSetView } from '@updraft/server';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { readInput } from '../read-input.js';
import { serviceClient } from '../service.js';

/**
 * `updraft device preauthorize --id-data <json> --pubkey <pem> --device-class <class>`: registers
 * a Mender device's identity and public key ahead of time (docs/mender-api.md); its first
 * `auth_requests` is then accepted.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const idData = args.requiredString('id-data');
  const pubkey = (
    await readInput(ctx.path(args.requiredString('pubkey')), '--pubkey file')
  ).toString('utf8');
  const deviceClass = args.requiredString('device-class');
  const api = await serviceClient(ctx, args);
  const set = await api.json<MenderAuthSetView>('/api/v1/mender/auth-sets', {
    method: 'POST',
    body: { idData, pubkey, deviceClass },
  });
  ctx.result(
    set,
    `Mender identity pre-authorised: device ${set.deviceName} (${set.deviceId}), auth set ${set.id}`,
  );
  return EXIT_CODES.ok;
}
