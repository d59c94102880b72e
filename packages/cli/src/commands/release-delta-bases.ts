import type { DeltaBases, DeltaRecord } from '@updraft/server';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { CliError } from '../errors.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { resolveClass, resolveReleaseId, seg, serviceClient, table } from '../service.js';

/** What `PUT /releases/{id}/delta-bases` (and `GET /releases/{id}/deltas`) answer. */
export type ReleaseDeltas = DeltaBases & {
  readonly releaseId: string;
  readonly patches: readonly DeltaRecord[];
  readonly deliveries: number;
  readonly bytesSaved: number;
};

/**
 * `updraft release delta-bases <release> <bases...> | --any-installed [--class <class>] [--lazy]`:
 * names the earlier releases (ids or versions of the same class; the service resolves them) whose
 * installed images get patches to this release, or any installed image the service holds. Replaces
 * what was named before.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const bases = args.strings('bases');
  const anyInstalled = args.flag('any-installed');
  if (bases.length === 0 && !anyInstalled) {
    throw new CliError(
      'CLI_USAGE',
      'name at least one base release (id or version), or give --any-installed',
    );
  }
  const api = await serviceClient(ctx, args);
  const className = args.string('class');
  const classId = className === undefined ? undefined : (await resolveClass(api, className)).id;
  const releaseId = await resolveReleaseId(api, args.requiredString('release'), classId);
  const view = await api.json<ReleaseDeltas>(`/api/v1/releases/${seg(releaseId)}/delta-bases`, {
    method: 'PUT',
    body: { bases, anyInstalled, ...(args.flag('lazy') ? { eager: false } : {}) },
  });
  ctx.result(view, () => describeDeltas(view));
  return EXIT_CODES.ok;
}

/** Human view of a release's delta bases, patches and savings. */
export function describeDeltas(view: ReleaseDeltas): string {
  return [
    `release ${view.releaseId}: delta bases ${view.baseReleaseIds.join(', ') || 'none'}; ` +
      `any installed image: ${view.anyInstalled ? 'yes' : 'no'}`,
    `  ${view.patches.length} patch(es), ${view.deliveries} delivered, ${view.bytesSaved} bytes saved`,
    table(
      ['BASE', 'TARGET', 'STATE', 'PATCH SIZE', 'TARGET SIZE'],
      view.patches.map((p) => [
        p.baseDigest.slice(0, 12),
        p.targetDigest.slice(0, 12),
        p.state,
        p.patchSize,
        p.targetSize,
      ]),
    ),
  ].join('\n');
}
