import type { TenantCaView } from '@updraft/server';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { readInput } from '../read-input.js';
import { serviceClient } from '../service.js';

/**
 * `updraft pki ca import --cert <pem> --key <pem> [--chain <pem>]`: makes an issuing CA (e.g.
 * `issuing.pem`/`issuing.key` from `updraft pki init`, with `root.pem` as chain) the tenant's.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const read = async (option: string) =>
    (await readInput(ctx.path(args.requiredString(option)), `--${option} file`)).toString('utf8');
  const certificatePem = await read('cert');
  const privateKeyPem = await read('key');
  const chainPem = args.string('chain') === undefined ? undefined : await read('chain');
  const api = await serviceClient(ctx, args);
  const ca = await api.json<TenantCaView>('/api/v1/pki/ca', {
    method: 'PUT',
    body: { certificatePem, privateKeyPem, ...(chainPem === undefined ? {} : { chainPem }) },
  });
  ctx.result(
    ca,
    [
      `issuing CA imported: ${ca.subject}, expires ${ca.notAfter}`,
      `  sha256 ${ca.fingerprint}`,
      '  devices pin the chain of GET /api/v1/pki/ca (or EST cacerts)',
    ].join('\n'),
  );
  return EXIT_CODES.ok;
}
