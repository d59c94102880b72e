import type { DeviceCertificateView } from '@updraft/server';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { ServiceError } from '../errors.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { seg, serviceClient } from '../service.js';

/**
 * `updraft pki cert revoke <device or serial> [--reason <RFC 5280 reason>]`: a serial or
 * certificate id revokes that certificate; a device (name or id) revokes all of its certificates.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const ref = args.requiredString('ref');
  const reason = args.string('reason');
  const body = reason === undefined ? {} : { reason };
  try {
    const cert = await api.json<DeviceCertificateView>(
      `/api/v1/pki/certificates/${seg(ref)}/revoke`,
      { method: 'POST', body },
    );
    ctx.result(cert, `revoked certificate ${cert.serial} of device ${cert.deviceId}`);
    return EXIT_CODES.ok;
  } catch (error) {
    // Not a certificate: try it as a device.
    if (!(error instanceof ServiceError) || error.status !== 404) throw error;
  }
  const done = await api.json<{ revoked: number }>(
    `/api/v1/devices/${seg(ref)}/certificates/revoke`,
    { method: 'POST', body },
  );
  ctx.result({ device: ref, ...done }, `revoked ${done.revoked} certificate(s) of device ${ref}`);
  return EXIT_CODES.ok;
}
