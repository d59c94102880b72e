import type { ManufacturingCaView } from '@updraft/server';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { readInput } from '../read-input.js';
import { serviceClient } from '../service.js';

/**
 * `updraft pki manufacturing-ca add <cert> --device-class <class> [--name] [--auto-accept]`:
 * registers a manufacturing CA whose birth certificates may enroll devices of the class.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const certificatePem = (
    await readInput(ctx.path(args.requiredString('cert')), 'CA certificate file')
  ).toString('utf8');
  const api = await serviceClient(ctx, args);
  const name = args.string('name');
  const ca = await api.json<ManufacturingCaView>('/api/v1/pki/manufacturing-cas', {
    method: 'POST',
    body: {
      certificatePem,
      deviceClass: args.requiredString('device-class'),
      autoAccept: args.flag('auto-accept'),
      ...(name === undefined ? {} : { name }),
    },
  });
  ctx.result(
    ca,
    [
      `manufacturing CA "${ca.name}" (${ca.id}) registered`,
      `  subject ${ca.subject}, expires ${ca.notAfter}`,
      `  sha256 ${ca.fingerprint}`,
      `  new devices are ${ca.autoAccept ? 'accepted at once' : 'pending until `updraft device accept`'}`,
    ].join('\n'),
  );
  return EXIT_CODES.ok;
}
