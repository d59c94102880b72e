import type { DeviceCertificateView } from '@updraft/server';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { serviceClient, table } from '../service.js';

/** Pages fetched at most (500 certificates each): the CLI lists, it does not export. */
const MAX_PAGES = 20;

/** `updraft pki cert list [--device] [--state] [--expiring-within <days>]`: the inventory. */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const items: DeviceCertificateView[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const answer = await api.json<{ items: DeviceCertificateView[]; nextCursor: string | null }>(
      '/api/v1/pki/certificates',
      {
        query: {
          device: args.string('device'),
          state: args.string('state'),
          expiringWithinDays: args.integer('expiring-within', 36_500),
          limit: 500,
          cursor,
        },
      },
    );
    items.push(...answer.items);
    if (answer.nextCursor === null) break;
    cursor = answer.nextCursor;
  }
  ctx.result(
    { items: items.map(({ certificatePem: _pem, ...rest }) => rest) },
    table(
      ['SERIAL', 'DEVICE', 'STATE', 'NOT AFTER', 'ISSUED VIA'],
      items.map((c) => [c.serial, c.deviceId, c.state, c.notAfter, c.issuedVia]),
    ),
  );
  return EXIT_CODES.ok;
}
