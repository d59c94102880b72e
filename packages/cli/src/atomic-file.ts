import { randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** A file being written through a stream; it appears at its path only on `commit()`. */
export interface AtomicFile {
  readonly stream: WriteStream;
  /** fsync, then rename into place. Call after the stream finished. */
  commit(): Promise<void>;
  /** Remove the temp file (after a failure). */
  abort(): Promise<void>;
}

/**
 * Starts writing `path` atomically through a stream (large outputs: encrypted or decrypted
 * images). Readers never see a partial file: a failed run leaves the old file (or none).
 */
export function createAtomicFile(path: string, mode = 0o644): AtomicFile {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const stream = createWriteStream(temp, { flags: 'wx', mode });
  return {
    stream,
    async commit() {
      const handle = await open(temp, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, path);
    },
    async abort() {
      stream.destroy();
      await unlink(temp).catch(() => {});
    },
  };
}
