import { createWriteStream, type WriteStream } from 'node:fs';
import { type FileHandle, open, unlink } from 'node:fs/promises';
import { type AtomicWriteOptions, publishTempFile } from './atomic-write.js';
import { tempPathFor } from './temp-path.js';

/** A file being written through a stream; it appears at its path only on `commit()`. */
export interface AtomicFile {
  readonly stream: WriteStream;
  /** fsync the file, move it into place, fsync the directory. Call after the stream finished. */
  commit(): Promise<void>;
  /** Drop the temp file (after a failure); `path` is untouched. */
  abort(): Promise<void>;
}

/**
 * Starts writing `path` atomically through a stream, for outputs too large to hold in memory
 * (images, patches): the same steps as {@link atomicWriteFile}, with the write in between.
 *
 * @example
 * const out = createAtomicFile(outPath, { mode: 0o644 });
 * try {
 *   await pipeline(source, out.stream);
 *   await out.commit();
 * } catch (error) {
 *   await out.abort();
 *   throw error;
 * }
 */
export function createAtomicFile(path: string, options: AtomicWriteOptions = {}): AtomicFile {
  const temp = tempPathFor(path);
  const stream = createWriteStream(temp, { flags: 'wx', mode: options.mode ?? 0o600 });
  return {
    stream,
    async commit() {
      let handle: FileHandle;
      try {
        handle = await open(temp, 'r+');
      } catch (error) {
        await unlink(temp).catch(() => {});
        throw error;
      }
      await publishTempFile(handle, temp, path, options.exclusive ?? false);
    },
    async abort() {
      // Wait for the stream to close: its file may still be opening, and would outlive the unlink.
      if (!stream.closed) {
        const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));
        stream.destroy();
        await closed;
      }
      await unlink(temp).catch(() => {});
    },
  };
}
