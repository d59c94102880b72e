import { open } from 'node:fs/promises';

// What a file system answers when it cannot fsync a directory (the rename is atomic there anyway).
const UNSYNCABLE = new Set(['EINVAL', 'ENOTSUP', 'EPERM', 'EISDIR', 'EBADF', 'EACCES']);

/**
 * fsyncs a directory, so that a rename or a new file in it survives a power cut. Where the
 * platform cannot open or fsync a directory this is a no-op; any other failure (EIO) is thrown.
 *
 * @example
 * await rename(temp, path);
 * await syncDirectory(dirname(path));
 */
export async function syncDirectory(dir: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (error) {
    if (!UNSYNCABLE.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
  } finally {
    await handle?.close();
  }
}
