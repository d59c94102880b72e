import { createReadStream } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { BugError } from '@updraft/core';
import { createAtomicFile } from '@updraft/core/fs';
import { apply, type ReadOld } from '@updraft/delta';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';
import { fileError } from '../read-input.js';
import { toHex } from '../to-json.js';

/**
 * `updraft delta apply <old> <patch> <out>`: streams the patch, reads the old image by offset,
 * writes the new image to a temp file renamed into place only after every check passed (base
 * digest, body checksum, result digest). A wrong base or a corrupt patch exits non-zero with the
 * `DELTA_*` code and leaves no output.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const oldPath = ctx.path(args.requiredString('old'));
  const patchPath = ctx.path(args.requiredString('patch'));
  const outPath = ctx.path(args.requiredString('out'));
  try {
    await stat(patchPath);
  } catch (error) {
    throw fileError(error, patchPath, 'patch');
  }
  let old: FileHandle;
  try {
    old = await open(oldPath, 'r');
  } catch (error) {
    throw fileError(error, oldPath, 'old image');
  }
  // apply is done with each read before the next one: one buffer serves them all.
  let buffer = new Uint8Array(0);
  const readOld: ReadOld = async (offset, length) => {
    if (buffer.length < length) buffer = new Uint8Array(length);
    const { bytesRead } = await old.read(buffer, 0, length, offset);
    return buffer.subarray(0, bytesRead);
  };
  const out = createAtomicFile(outPath, { mode: 0o644 });
  let progress = ctx.progress('applying', 0);
  let header: { kind: string; newSize: number; newSha256: Uint8Array } | undefined;
  try {
    const chunks = apply(readOld, createReadStream(patchPath, { highWaterMark: 64 * 1024 }), {
      onHeader: (h) => {
        header = h;
        progress = ctx.progress('applying', h.newSize);
      },
      onProgress: (done) => progress.update(done),
    });
    for await (const chunk of chunks) {
      if (!out.stream.write(chunk))
        await new Promise<void>((resolve) => out.stream.once('drain', () => resolve()));
    }
    await new Promise<void>((resolve, reject) =>
      out.stream.end((error?: Error | null) => (error ? reject(error) : resolve())),
    );
    await out.commit();
  } catch (error) {
    await out.abort();
    throw fileError(error, patchPath, 'patch');
  } finally {
    progress.stop();
    await old.close();
  }
  // apply() calls onHeader before the first output byte, and a patch always has a header.
  if (header === undefined) throw new BugError('delta apply finished without reading a header');
  const h = header;
  const sha256 = toHex(h.newSha256);
  ctx.result(
    { out: outPath, kind: h.kind, newSize: h.newSize, newSha256: sha256 },
    `wrote ${outPath} (${h.newSize} bytes, sha256 ${sha256}, verified)`,
  );
  return EXIT_CODES.ok;
}
