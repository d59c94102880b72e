import { randomBytes } from 'node:crypto';
import { link, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CliError } from './errors.js';

/**
 * Writes `data` to `path` so that a reader (or a crash) sees either the old file or the complete
 * new one: temp file in the same directory created with `mode` from the start, fsync, then rename
 * (or, with `overwrite: false`, a hard link that fails if `path` exists), then fsync the directory.
 */
export async function atomicWrite(
  path: string,
  data: Uint8Array | string,
  options: { mode?: number; overwrite?: boolean } = {},
): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  // The mode is applied at creation, so a private key is never readable by others, even briefly.
  const handle = await open(temp, 'wx', options.mode ?? 0o644);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    if (options.overwrite === false) {
      try {
        await link(temp, path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
          throw new CliError('CLI_FILE_EXISTS', `refusing to overwrite ${path} (use --force)`, {
            details: { path },
          });
        }
        throw error;
      }
      await unlink(temp);
    } else {
      await rename(temp, path);
    }
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw error;
  }
  await syncDir(dir);
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch {
    // Some file systems refuse fsync on a directory; the rename is still atomic there.
  } finally {
    await handle.close();
  }
}
