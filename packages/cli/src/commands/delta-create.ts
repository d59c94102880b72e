import { diffDetailed } from '@updraft/delta';
import { atomicWrite } from '../atomic-write.js';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { readInput } from '../read-input.js';

/** Images up to 1 GiB (the patch format's limit) are read whole: the encoder needs them so. */
const MAX_IMAGE_BYTES = 1 << 30;

/**
 * `updraft delta create <old> <new> <patch>`: writes a patch (atomically). When the compressed
 * new image alone is smaller than any delta, the patch is a `full` one and the command says so.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const oldImage = await readInput(
    ctx.path(args.requiredString('old')),
    'old image',
    MAX_IMAGE_BYTES,
  );
  const newImage = await readInput(
    ctx.path(args.requiredString('new')),
    'new image',
    MAX_IMAGE_BYTES,
  );
  const patchPath = ctx.path(args.requiredString('patch'));
  const windowLog = args.string('window-log');
  const kind = (args.string('kind') ?? 'auto') as 'auto' | 'delta' | 'full';
  const transform = (args.string('transform') ?? 'auto') as 'auto' | 'none' | 'thumb2';
  const progress = ctx.progress('diffing', newImage.length);
  let report: ReturnType<typeof diffDetailed>;
  try {
    report = diffDetailed(oldImage, newImage, {
      kind,
      transform,
      ...(windowLog === undefined ? {} : { windowLog: Number(windowLog) }),
      onProgress: (stage, done, total) => {
        if (stage === 'match' || stage === 'encode')
          progress.update(Math.floor((done / Math.max(1, total)) * newImage.length));
      },
    });
  } finally {
    progress.stop();
  }
  await atomicWrite(patchPath, report.patch);
  const fullWasSmaller = report.kind === 'full' && report.deltaSize !== undefined;
  const data = {
    patch: patchPath,
    size: report.patch.length,
    kind: report.kind,
    transform: report.transform,
    oldSize: oldImage.length,
    newSize: newImage.length,
    deltaSize: report.deltaSize ?? null,
    fullSize: report.fullSize ?? null,
    fullImageSmaller: fullWasSmaller,
  };
  ctx.result(data, () => {
    const lines = [
      `wrote ${patchPath} (${report.patch.length} bytes, ${((100 * report.patch.length) / Math.max(1, newImage.length)).toFixed(2)} % of the new image)`,
      `  kind       ${report.kind}${report.kind === 'full' ? ' (the patch carries the compressed new image; any old image will do)' : ''}`,
      `  transform  ${report.transform}`,
    ];
    if (report.deltaSize !== undefined) lines.push(`  delta      ${report.deltaSize} bytes`);
    if (report.fullSize !== undefined)
      lines.push(`  full image ${report.fullSize} bytes compressed`);
    if (fullWasSmaller) {
      lines.push(
        '  the compressed full image is smaller than a delta: wrote it instead (send the full image)',
      );
    }
    return lines.join('\n');
  });
  return EXIT_CODES.ok;
}
