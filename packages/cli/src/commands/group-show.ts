import type { GroupView } from '@updraft/server';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { seg, serviceClient } from '../service.js';

/** `updraft group show <group>`: its filter or members, and how many devices it holds now. */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const group = await api.json<GroupView>(`/api/v1/groups/${seg(args.requiredString('group'))}`);
  ctx.result(group, () =>
    [
      `group ${group.name} (${group.id}), ${group.kind}, ${group.deviceCount} device(s)`,
      group.kind === 'dynamic'
        ? `  filter ${group.filter}`
        : `  members ${(group.members ?? []).join(', ') || '-'}`,
    ].join('\n'),
  );
  return EXIT_CODES.ok;
}
