import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { resolveClass, resolveReleaseId, seg, serviceClient } from '../service.js';
import { describeDeltas, type ReleaseDeltas } from './release-delta-bases.js';

/**
 * `updraft release deltas <release> [--class <class>]`: the release's delta bases, its cached
 * patches (state, sizes) and the bytes deltas saved so far.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const api = await serviceClient(ctx, args);
  const className = args.string('class');
  const classId = className === undefined ? undefined : (await resolveClass(api, className)).id;
  const releaseId = await resolveReleaseId(api, args.requiredString('release'), classId);
  const view = await api.json<ReleaseDeltas>(`/api/v1/releases/${seg(releaseId)}/deltas`);
  ctx.result(view, () => describeDeltas(view));
  return EXIT_CODES.ok;
}
