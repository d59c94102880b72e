import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * Removes the files of `dir` untouched for `maxAgeMs` (the leftovers of writes that died) and
 * returns how many went. Replicas may share the directory: a file another process is still
 * writing has a recent mtime (every chunk moves it) and is left alone. A missing dir is empty.
 */
export async function removeIdleFiles(dir: string, maxAgeMs: number): Promise<number> {
  const cutoff = Date.now() - maxAgeMs;
  let removed = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const file = path.join(dir, name);
    const info = await stat(file).catch(() => undefined);
    if (info !== undefined && info.mtimeMs < cutoff) {
      await rm(file, { force: true });
      removed++;
    }
  }
  return removed;
}
