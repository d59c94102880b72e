import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { resolveReleaseId, seg, serviceClient } from '../service.js';

/** A release as the service describes it. */
export interface ReleaseView {
  readonly id: string;
  readonly deviceClassId: string;
  readonly version: string;
  readonly sequenceNumber: number;
  readonly manifestDigest: string;
  readonly signerKids: readonly string[];
  readonly components: ReadonlyArray<{
    readonly id: string;
    readonly imageDigest: string | null;
    readonly imageSize: number | null;
    readonly encrypted: boolean;
    readonly integrated: boolean;
  }>;
  readonly text: Readonly<Record<string, string>> | null;
  readonly envelopeSize: number;
  readonly payloads: ReadonlyArray<{
    readonly componentId: string;
    readonly sha256: string;
    readonly size: number;
  }>;
  readonly createdAt: string;
}

/** `updraft release show <id>` */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const id = await resolveReleaseId(api, args.requiredString('id'));
  const r = await api.json<ReleaseView>(`/api/v1/releases/${seg(id)}`);
  ctx.result(r, () =>
    [
      `release ${r.id}: version ${r.version}, sequence number ${r.sequenceNumber}`,
      `  class ${r.deviceClassId}, created ${r.createdAt}`,
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
