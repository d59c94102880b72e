import type { Action, ActionEvent } from '@updraft/server';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { seg, serviceClient, table } from '../service.js';

/** An action as the service describes it (`GET /actions/{id}` adds its history). */
export type ActionView = Action & { readonly events?: readonly ActionEvent[] };

/** One line about an action. */
export function describeAction(a: ActionView): string {
  return `action ${a.id}: release ${a.releaseId} → device ${a.deviceId}, state ${a.state}${a.open ? ' (open)' : ''}${a.cancelRequested ? ', cancel requested' : ''}${a.type !== undefined && a.type !== 'soft' ? `, ${a.type}` : ''}${a.forceAfter ? ` (forced from ${a.forceAfter})` : ''}${a.recurringWindow ? `, window '${a.recurringWindow.cron}' ${a.recurringWindow.durationSeconds}s ${a.recurringWindow.timeZone}` : ''}`;
}

/** `updraft action show <id>`: the action and its event history. */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const action = await api.json<ActionView>(`/api/v1/actions/${seg(args.requiredString('id'))}`);
  ctx.result(action, () =>
    [
      describeAction(action),
      table(
        ['AT', 'SOURCE', 'STATUS', 'PROGRESS', 'CODE', 'MESSAGE'],
        (action.events ?? []).map((e) => [e.at, e.source, e.status, e.progress, e.code, e.message]),
      ),
    ].join('\n'),
  );
  return EXIT_CODES.ok;
}
