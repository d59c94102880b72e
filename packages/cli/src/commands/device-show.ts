import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { resolveDeviceId, seg, serviceClient, table } from '../service.js';

/** A device as the service lists it. */
export interface DeviceView {
  readonly id: string;
  readonly name: string;
  readonly deviceClassId: string;
  readonly createdAt: string;
  readonly lastSeenAt: string | null;
  readonly decommissionedAt: string | null;
  readonly tags: readonly string[];
}

interface DeviceDetail extends DeviceView {
  readonly attributes: {
    readonly reported: Record<string, unknown>;
    readonly custom: Record<string, unknown>;
  };
  readonly components: ReadonlyArray<{
    readonly id: string;
    readonly version: string | null;
    readonly sequenceNumber: number | null;
    readonly digest: string | null;
    readonly updatedAt: string;
  }>;
}

interface ActionView {
  readonly id: string;
  readonly releaseId: string;
  readonly state: string;
  readonly updatedAt: string;
}

/** `updraft device show <id>`: attributes, installed components and the action history. */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const id = seg(await resolveDeviceId(api, args.requiredString('id')));
  const device = await api.json<DeviceDetail>(`/api/v1/devices/${id}`);
  const { items: actions } = await api.json<{ items: ActionView[] }>(
    `/api/v1/devices/${id}/actions`,
  );
  ctx.result({ ...device, actions }, () =>
    [
      `device ${device.name} (${device.id}), class ${device.deviceClassId}`,
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
