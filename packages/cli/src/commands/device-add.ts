import type { DeviceSummary } from '@updraft/server';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { CliError } from '../errors.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { resolveClass, serviceClient } from '../service.js';

/**
 * `updraft device add <name> --class <class> [--attr key=value]... [--tag <tag>]...`: pre-registers
 * a device; its bearer token is printed this once (give it to the device).
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const attributes: Record<string, string | number | boolean> = {};
  for (const pair of args.strings('attr')) {
    const m = /^([^=]+)=(.*)$/.exec(pair);
    if (m === null) throw new CliError('CLI_USAGE', `--attr must be key=value (got "${pair}")`);
    attributes[m[1]!] = attributeValue(m[2]!);
  }
  const tags = args.strings('tag');
  const api = await serviceClient(ctx, args);
  const cls = await resolveClass(api, args.requiredString('class'));
  const created = await api.json<{ device: DeviceSummary; token: string }>('/api/v1/devices', {
    method: 'POST',
    body: {
      name: args.requiredString('name'),
      deviceClassId: cls.id,
      ...(Object.keys(attributes).length === 0 ? {} : { attributes }),
      ...(tags.length === 0 ? {} : { tags }),
    },
  });
  ctx.result(
    created,
    `registered device ${created.device.name} (${created.device.id}) in class ${cls.name}\n  device token (shown only now): ${created.token}`,
  );
  return EXIT_CODES.ok;
}

// Numbers and booleans keep their type, so attribute filters compare them as the device reports them.
function attributeValue(raw: string): string | number | boolean {
  if (raw === 'true' || raw === 'false') return raw === 'true';
  if (/^-?\d+(\.\d+)?$/.test(raw) && raw.length < 16) return Number(raw);
  return raw;
}
