import type { Release } from '@updraft/server';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { classNames, resolveClass, resolveReleaseId, seg, serviceClient } from '../service.js';

/** `updraft release show <id | version> [--class <class>]` */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const className = args.string('class');
  const classId = className === undefined ? undefined : (await resolveClass(api, className)).id;
  const id = await resolveReleaseId(api, args.requiredString('id'), classId);
  const r = await api.json<Release>(`/api/v1/releases/${seg(id)}`);
  const name = (await classNames(api)).get(r.deviceClassId);
  ctx.result(r, () =>
    [
      `release ${r.id}: version ${r.version}, sequence number ${r.sequenceNumber}`,
      `  class ${name ?? '?'} (${r.deviceClassId}), created ${r.createdAt}`,
      `  manifest digest ${r.manifestDigest} (${r.envelopeSize} bytes)`,
      `  signer kids ${r.signerKids.join(', ')}`,
      ...r.components.map(
        (c) =>
          `  component ${c.id}: ${c.imageSize ?? '?'} bytes sha256 ${c.imageDigest ?? '?'}${c.encrypted ? ' (encrypted)' : ''}${c.integrated ? ' (integrated)' : ''}`,
      ),
      ...r.payloads.map(
        (p) => `  payload for ${p.componentId}: ${p.size} bytes sha256 ${p.sha256}`,
      ),
      ...Object.entries(r.text ?? {}).map(([k, v]) => `  ${k}: ${v}`),
    ].join('\n'),
  );
  return EXIT_CODES.ok;
}
