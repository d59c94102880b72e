import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';

/**
 * `updraft agent run --config <file> [--once] [--no-push]`: runs the update agent of a Linux device with
 * file- or block-device-backed slots (docs/agent.md) until SIGINT/SIGTERM, or for one poll with
 * `--once`. Subscribes to MQTT push notices when the service offers them (docs/mqtt.md) unless
 * `--no-push`. Logs one JSON line per event on stderr (never the device token).
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const { loadAgentConfig, runFileAgent } = await import('@updraft/agent');
  const file = args.string('config');
  const config = await loadAgentConfig(ctx.path(file ?? 'updraft-agent.json'));
  const line = (level: string) => (fields: Record<string, unknown>, message: string) => {
    ctx.io.stderr.write(
      `${JSON.stringify({ level, time: new Date().toISOString(), message, ...fields })}\n`,
    );
  };
  const logger = { debug: () => {}, info: line('info'), warn: line('warn'), error: line('error') };
  const once = args.flag('once');
  await runFileAgent(config, {
    logger,
    events: {
      emit(notice) {
        if (notice.type === 'transition') {
          logger.info({ from: notice.from, on: notice.on, to: notice.to }, 'state');
        } else if (notice.type === 'check-in' && notice.push !== undefined) {
          logger.info({ url: notice.push.url }, 'push offered');
        } else if (notice.type === 'report') {
          const { actionId, status, code } = notice;
          logger.info({ actionId, status, code }, 'reported');
        }
      },
    },
    ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
    ...(once ? { until: 'idle' as const } : {}),
    ...(args.flag('no-push') ? { push: false } : {}),
  });
  ctx.result({ stopped: true }, '');
  return EXIT_CODES.ok;
}
