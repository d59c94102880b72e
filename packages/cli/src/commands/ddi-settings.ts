import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { resolveClass, serviceClient } from '../service.js';

interface DdiSettings {
  readonly autoRegister: boolean;
  readonly deviceClassId: string | null;
  readonly pollingSleepSeconds: number;
}

/**
 * `updraft ddi settings [--auto-register true|false] [--class <class>] [--polling-sleep <s>]`:
 * shows the tenant's hawkBit DDI settings, or changes the given ones (needs `settings:write`).
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const autoRegister = args.choice('auto-register', ['true', 'false'] as const);
  const className = args.string('class');
  const sleep = args.integer('polling-sleep', 86_399);
  const api = await serviceClient(ctx, args);
  let settings = await api.json<DdiSettings>('/api/v1/ddi/settings');
  if (autoRegister !== undefined || className !== undefined || sleep !== undefined) {
    settings = await api.json<DdiSettings>('/api/v1/ddi/settings', {
      method: 'PUT',
      body: {
        autoRegister: autoRegister === undefined ? settings.autoRegister : autoRegister === 'true',
        deviceClassId:
          className === undefined
            ? settings.deviceClassId
            : (await resolveClass(api, className)).id,
        pollingSleepSeconds: sleep ?? settings.pollingSleepSeconds,
      },
    });
  }
  ctx.result(
    settings,
    [
      `auto-register: ${settings.autoRegister ? `on, into class ${settings.deviceClassId}` : 'off'}`,
      `polling sleep: ${settings.pollingSleepSeconds} s`,
    ].join('\n'),
  );
  return EXIT_CODES.ok;
}
