import type { Action, DeviceDetail } from '@updraft/server';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { classNames, resolveDeviceId, seg, serviceClient, table } from '../service.js';

/** `updraft device show <id>`: attributes, installed components and the action history. */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const id = seg(await resolveDeviceId(api, args.requiredString('id')));
  const device = await api.json<DeviceDetail>(`/api/v1/devices/${id}`);
  const { items: actions } = await api.json<{ items: Action[] }>(`/api/v1/devices/${id}/actions`);
  const className = (await classNames(api)).get(device.deviceClassId);
  ctx.result({ ...device, actions }, () =>
    [
      `device ${device.name} (${device.id}), class ${className ?? '?'} (${device.deviceClassId})`,
      `  last seen ${device.lastSeenAt ?? 'never'}${device.decommissionedAt === null ? '' : `, decommissioned ${device.decommissionedAt}`}`,
      `  tags ${device.tags.length === 0 ? '-' : device.tags.join(', ')}`,
      `  attributes ${JSON.stringify({ ...device.attributes.reported, ...device.attributes.custom })}`,
      'components:',
      table(
        ['ID', 'VERSION', 'SEQUENCE', 'DIGEST'],
        device.components.map((c) => [c.id, c.version, c.sequenceNumber, c.digest]),
      ),
      'actions:',
      table(
        ['ID', 'RELEASE', 'STATE', 'UPDATED'],
        actions.map((a) => [a.id, a.releaseId, a.state, a.updatedAt]),
      ),
    ].join('\n'),
  );
  return EXIT_CODES.ok;
}
