import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { serviceClient } from '../service.js';

/** `updraft device count '<filter>'`: how many devices match a target filter (docs/filters.md). */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const query = new URLSearchParams({ filter: args.requiredString('filter') });
  const answer = await api.json<{ count: number }>(`/api/v1/devices/count?${query}`);
  ctx.result({ count: answer.count }, String(answer.count));
  return EXIT_CODES.ok;
}
