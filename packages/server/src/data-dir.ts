import { chmod, mkdir } from 'node:fs/promises';

/**
 * Creates the data directory if missing and makes it private (0700): it holds the database, the
 * master key, blobs and upload sessions, none of which another local user may read.
 */
export async function prepareDataDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode applies only to a directory it creates (and is masked by the umask).
  await chmod(dir, 0o700);
}
