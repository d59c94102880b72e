import { open } from 'node:fs/promises';
import { PATCH_HEADER_SIZE, parsePatchHeader } from '@updraft/delta';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { fileError } from '../read-input.js';
import { toHex } from '../to-json.js';

/** `updraft delta info <patch>`: the checked header of a patch (reads only its first 96 bytes). */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const patchPath = ctx.path(args.requiredString('patch'));
  let bytes: Uint8Array;
  let size: number;
  try {
    const handle = await open(patchPath, 'r');
    try {
      size = (await handle.stat()).size;
      const buf = new Uint8Array(PATCH_HEADER_SIZE);
      const { bytesRead } = await handle.read(buf, 0, PATCH_HEADER_SIZE, 0);
      bytes = buf.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw fileError(error, patchPath, 'patch');
  }
  const h = parsePatchHeader(bytes);
  const data = {
    patch: patchPath,
    size,
    formatVersion: h.version,
    kind: h.kind,
    transform: h.transform,
    windowBytes: 2 ** h.windowLog,
    oldSize: h.oldSize,
    newSize: h.newSize,
    bodyLength: h.bodyLength,
    complete: size === PATCH_HEADER_SIZE + h.bodyLength,
    oldSha256: h.kind === 'delta' ? toHex(h.oldSha256) : null,
    newSha256: toHex(h.newSha256),
  };
  ctx.result(data, () =>
    [
      `${patchPath}: Updraft patch v${h.version}, ${h.kind}${h.kind === 'full' ? ' (needs no old image)' : ''}, transform ${h.transform}`,
      `  size        ${size} bytes${data.complete ? '' : ` (expected ${PATCH_HEADER_SIZE + h.bodyLength}: truncated or padded)`}`,
      `  old image   ${h.kind === 'delta' ? `${h.oldSize} bytes, sha256 ${data.oldSha256}` : '-'}`,
      `  new image   ${h.newSize} bytes, sha256 ${data.newSha256}`,
      `  decoder     ${2 ** h.windowLog}-byte window`,
    ].join('\n'),
  );
  return EXIT_CODES.ok;
}
