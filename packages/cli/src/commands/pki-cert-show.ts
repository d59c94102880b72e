import type { DeviceCertificateView } from '@updraft/server';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { seg, serviceClient } from '../service.js';

/** `updraft pki cert show <device or serial>`: a certificate, or a device's newest one. */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const cert = await api.json<DeviceCertificateView>(
    `/api/v1/pki/certificates/${seg(args.requiredString('ref'))}`,
  );
  ctx.result(cert, () =>
    [
      `certificate ${cert.serial} (${cert.id}) of device ${cert.deviceId}: ${cert.state}`,
      `  subject ${cert.subject}`,
      `  valid ${cert.notBefore} .. ${cert.notAfter}, issued ${cert.issuedAt} via ${cert.issuedVia}`,
      `  sha256 ${cert.fingerprint}`,
      ...(cert.revokedAt === null
        ? []
        : [`  revoked ${cert.revokedAt} (${cert.revocationReason ?? 'unspecified'})`]),
      cert.certificatePem.trimEnd(),
    ].join('\n'),
  );
  return EXIT_CODES.ok;
}
