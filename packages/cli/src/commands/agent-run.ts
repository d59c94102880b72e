import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { CliError } from '../errors.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';

/**
 * `updraft agent run --config <file> [--once] [--ca-file <pem>] [--enroll-token <token> |
 * --birth-cert <pem> --birth-key <pem>]`: runs the update agent of a Linux device with
 * file- or block-device-backed slots (docs/agent.md) until SIGINT/SIGTERM, or for one poll with
 * `--once`. Logs one JSON line per event on stderr (never the device token).
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const { loadAgentConfig, runFileAgent } = await import('@updraft/agent');
  const file = args.string('config');
  const caFile = args.string('ca-file');
  const enrollToken = args.string('enroll-token');
  const birthCert = args.string('birth-cert');
  const birthKey = args.string('birth-key');
  if ((birthCert === undefined) !== (birthKey === undefined) || (enrollToken && birthCert)) {
    throw new CliError('CLI_USAGE', 'use --enroll-token, or --birth-cert with --birth-key');
  }
  const config = await loadAgentConfig(ctx.path(file ?? 'updraft-agent.json'), {
    ...(caFile ? { caFile: ctx.path(caFile) } : {}),
    ...(enrollToken ? { enrollment: { token: enrollToken } } : {}),
    ...(birthCert && birthKey
      ? {
          enrollment: {
            birthCertificateFile: ctx.path(birthCert),
            birthKeyFile: ctx.path(birthKey),
          },
        }
      : {}),
  });
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
        } else if (notice.type === 'report') {
          const { actionId, status, code } = notice;
          logger.info({ actionId, status, code }, 'reported');
        }
      },
    },
    ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
    ...(once ? { until: 'idle' as const } : {}),
  });
  ctx.result({ stopped: true }, '');
  return EXIT_CODES.ok;
}
