import { type FileHandle, link, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { syncDirectory } from './sync-directory.js';
import { tempPathFor } from './temp-path.js';

/** Options of {@link atomicWriteFile} and {@link createAtomicFile}. */
export interface AtomicWriteOptions {
  /**
   * Permission bits of the new file, applied when the temp file is created (a private key is
   * never readable by others, not even briefly). Default 0o600.
   */
  readonly mode?: number;
  /**
   * Refuse to replace an existing file: the new file is hard-linked into place, which fails with
   * Node's `EEXIST` error when `path` exists (even if another process created it a moment ago).
   * Default false (replace).
   */
  readonly exclusive?: boolean;
}

/**
 * Writes `data` to `path` so that a reader, or the file system after a power cut, sees either the
 * old file or the complete new one: a temp file in the same directory (created with `mode`),
 * write, fsync the file, rename it over `path` (or link it, when `exclusive`), fsync the
 * directory. On failure the temp file is removed and `path` is untouched.
 *
 * @example
 * await atomicWriteFile('/var/lib/updraft/journal.json', bytes, { mode: 0o600 });
 */
export async function atomicWriteFile(
  path: string,
  data: Uint8Array | string,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const temp = tempPathFor(path);
  const handle = await open(temp, 'wx', options.mode ?? 0o600);
  try {
    await handle.writeFile(data);
  } catch (error) {
    await handle.close();
    await unlink(temp).catch(() => {});
    throw error;
  }
  await publishTempFile(handle, temp, path, options.exclusive ?? false);
}

/**
 * The common end of every atomic write: fsync the temp file behind `handle` and close it, rename
 * it over `path` (or link it, when `exclusive`), fsync the directory. On failure the temp file is
 * removed and `path` is untouched.
 */
export async function publishTempFile(
  handle: FileHandle,
  temp: string,
  path: string,
  exclusive: boolean,
): Promise<void> {
  try {
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (exclusive) {
      await link(temp, path);
      await unlink(temp);
    } else {
      await rename(temp, path);
    }
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw error;
  }
  await syncDirectory(dirname(path));
}
