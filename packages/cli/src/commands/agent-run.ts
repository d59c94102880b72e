import { readFile } from 'node:fs/promises';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { CliError } from '../errors.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';

/**
 * `updraft agent run --config <file> [--once] [--no-push] [--ca-file <pem>] [--enroll-token <token> |
 * --birth-cert <pem> --birth-key <pem>] [--transport http|mqtt …]`: runs the update agent of a Linux device with
 * file- or block-device-backed slots, switched by the boot control the config names (`bootControl`:
 * JSON state, U-Boot or GRUB environment; RAUC bundles as components; docs/agent.md) until SIGINT/SIGTERM, or for one poll with
 * `--once`. Subscribes to MQTT push notices when the service offers them (docs/mqtt.md) unless
 * `--no-push`. Logs one JSON line per event on stderr (never the device token).
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
  const mqtt =
    args.choice('transport', ['http', 'mqtt']) === 'mqtt'
      ? await openMqtt(ctx, args, config.server.token)
      : null;
  try {
    await runFileAgent(config, {
      ...(mqtt ? { transport: mqtt.transport } : {}),
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
  } finally {
    mqtt?.transport.close();
    await mqtt?.client.endAsync(true);
  }
  ctx.result({ stopped: true }, '');
  return EXIT_CODES.ok;
}

/**
 * `--transport mqtt`: the device's MQTT connection (pinned CA, certificate or the config's token
 * as password) and the device API over it. MQTT 3.1.1 framing, which both the embedded broker
 * and Mosquitto carry (docs/mqtt.md#device-api-over-mqtt).
 */
async function openMqtt(ctx: CommandContext, args: CommandArgs, token: string | null) {
  const { MqttTransport, openMqttConnection } = await import('@updraft/agent');
  const { deviceTopicRoot } = await import('@updraft/core');
  const url = args.requiredString('mqtt-url');
  const identity = args.requiredString('mqtt-identity');
  const m = /^CN=([^,/+#]+),O=([^,/+#]+)$/.exec(identity);
  let topicRoot: string;
  try {
    if (m === null) throw new RangeError('not CN=<device>,O=<tenant>');
    topicRoot = deviceTopicRoot(m[2]!, m[1]!);
  } catch {
    throw new CliError('CLI_USAGE', '--mqtt-identity must be CN=<device name>,O=<tenant id>');
  }
  const read = (name: string) => {
    const file = args.string(name);
    return file === undefined ? undefined : readFile(ctx.path(file));
  };
  const [ca, cert, key] = await Promise.all([read('mqtt-ca'), read('mqtt-cert'), read('mqtt-key')]);
  if ((cert === undefined) !== (key === undefined)) {
    throw new CliError('CLI_USAGE', '--mqtt-cert and --mqtt-key go together');
  }
  if (url.startsWith('mqtts:') && ca === undefined) {
    throw new CliError('CLI_USAGE', 'mqtts:// needs --mqtt-ca (the pinned CA chain)');
  }
  const client = await openMqttConnection({
    url,
    ca: ca ?? '',
    ...(cert && key
      ? { certificate: { cert, key } }
      : token !== null
        ? { token, identity }
        : usage('--transport mqtt needs --mqtt-cert/--mqtt-key or server.token in the config')),
    protocolVersion: 4,
  });
  return { client, transport: new MqttTransport({ client, topicRoot, protocolVersion: 4 }) };
}

function usage(message: string): never {
  throw new CliError('CLI_USAGE', message);
}
