import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { CommandContext } from './command-context.js';
import { fileError } from './read-input.js';

/** SHA-256 digest and size of a file. */
export interface FileDigest {
  readonly sha256: Uint8Array;
  readonly size: number;
}

/**
 * Streams a file through SHA-256 (never holding it whole), with a progress bar on terminals.
 */
export async function hashFile(
  ctx: CommandContext,
  path: string,
  what: string,
): Promise<FileDigest> {
  let total: number;
  try {
    total = (await stat(path)).size;
  } catch (error) {
    throw fileError(error, path, what);
  }
  const hash = createHash('sha256');
  const progress = ctx.progress(`hashing ${what}`, total);
  let size = 0;
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
      progress.update(size);
    }
  } catch (error) {
    throw fileError(error, path, what);
  } finally {
    progress.stop();
  }
  return { sha256: new Uint8Array(hash.digest()), size };
}
