import { constants } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { ServerError } from '../../errors.js';

// Largest excess body read and dropped before the connection is cut (bytes).
const DRAIN_LIMIT = 16 * 1024 * 1024;

/**
 * Streams one chunk body into the new file `file` (never held in memory), accepting at most
 * `maxBytes`; returns the bytes written. With `sync` the file is fsync'd before this returns.
 * On any failure (too long: `UPLOAD_TOO_LARGE`; the client went away; a disk error) the file is
 * removed. Used by both upload stagings: the fs one spools beside the chunks, the S3 one on the
 * local disk before one PutObject of known length.
 */
export async function spoolChunk(
  body: Readable,
  file: string,
  maxBytes: number,
  sync: boolean,
): Promise<number> {
  const handle = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  let failed = true;
  try {
    let position = 0;
    let overflow = 0;
    for await (const chunk of body) {
      const buf = chunk as Buffer;
      if (overflow > 0 || position + buf.length > maxBytes) {
        // Read (and drop) a bounded excess so the client gets its 413 instead of a reset.
        overflow += buf.length;
        if (overflow > DRAIN_LIMIT) {
          body.destroy();
          break;
        }
        continue;
      }
      let written = 0;
      while (written < buf.length) {
        const r = await handle.write(buf, written, buf.length - written, position + written);
        written += r.bytesWritten;
      }
      position += buf.length;
    }
    if (overflow > 0) {
      throw new ServerError(
        'UPLOAD_TOO_LARGE',
        `chunk exceeds the ${maxBytes} bytes allowed here`,
        {
          details: { maxBytes },
        },
      );
    }
    if (sync) await handle.sync();
    failed = false;
    return position;
  } finally {
    await handle.close();
    if (failed) await rm(file, { force: true });
  }
}
