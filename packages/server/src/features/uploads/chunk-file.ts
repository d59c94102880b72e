import { createHash } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ServerError } from '../../errors.js';

/** SHA-256 (and the legacy SHA-1/MD5 that compatible device APIs ask for) of a whole payload. */
export interface PayloadDigests {
  readonly size: number;
  readonly sha256: string;
  readonly sha1: string;
  readonly md5: string;
}

// Largest excess body read and dropped before the connection is cut (bytes).
const DRAIN_LIMIT = 16 * 1024 * 1024;

const SESSION_ID = /^upl_[A-Za-z0-9_-]{16,64}$/;

/**
 * The bytes of resumable upload sessions, one temp file per session under `dir`.
 *
 * The database row holds the acknowledged offset and is the truth: a crash in the middle of a
 * chunk may leave extra bytes on disk, which the next append truncates away before writing.
 * Chunks are streamed to disk and fsync'd before they are acknowledged, never held in memory.
 */
export class ChunkFile {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  /** Creates the directory; call once at start. */
  async init(): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
  }

  /** Path of a session's temp file; ids are server-generated and checked, never client paths. */
  path(sessionId: string): string {
    if (!SESSION_ID.test(sessionId)) throw new ServerError('RESOURCE_NOT_FOUND', 'no such upload');
    return join(this.#dir, `${sessionId}.part`);
  }

  /**
   * Writes `body` at `ackedOffset` (the offset the database acknowledges), accepting at most
   * `maxBytes`. Returns the new offset once the bytes are on disk. Throws `UPLOAD_TOO_LARGE` when
   * the body is longer than allowed. A chunk that fails (too long, the client went away, a
   * disk error) leaves nothing past `ackedOffset` on disk: the file is cut back, and removed
   * when nothing was acknowledged yet.
   */
  async append(
    sessionId: string,
    ackedOffset: number,
    body: Readable,
    maxBytes: number,
  ): Promise<number> {
    const file = this.path(sessionId);
    const handle = await open(file, constants.O_RDWR | constants.O_CREAT, 0o600);
    let failed = true;
    try {
      await handle.truncate(ackedOffset);
      let position = ackedOffset;
      let overflow = 0;
      for await (const chunk of body) {
        const buf = chunk as Buffer;
        if (overflow > 0 || position - ackedOffset + buf.length > maxBytes) {
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
      await handle.sync();
      failed = false;
      return position;
    } finally {
      if (failed) await handle.truncate(ackedOffset).catch(() => undefined);
      await handle.close();
      if (failed && ackedOffset === 0) await rm(file, { force: true });
    }
  }

  /** Size on disk (may exceed the acknowledged offset after a crash). */
  async size(sessionId: string): Promise<number> {
    return stat(this.path(sessionId)).then(
      (s) => s.size,
      () => 0,
    );
  }

  /** Hashes the first `size` bytes in one streaming pass. */
  async digests(sessionId: string, size: number): Promise<PayloadDigests> {
    const sha256 = createHash('sha256');
    const sha1 = createHash('sha1');
    const md5 = createHash('md5');
    let seen = 0;
    if (size > 0) {
      for await (const chunk of createReadStream(this.path(sessionId), {
        start: 0,
        end: size - 1,
      })) {
        const buf = chunk as Buffer;
        sha256.update(buf);
        sha1.update(buf);
        md5.update(buf);
        seen += buf.length;
      }
    }
    if (seen !== size)
      throw new ServerError('UPLOAD_INCOMPLETE', `upload holds ${seen} of ${size} bytes`);
    return { size, sha256: sha256.digest('hex'), sha1: sha1.digest('hex'), md5: md5.digest('hex') };
  }

  /** A stream of the first `size` bytes, for handing to the blob store. */
  read(sessionId: string, size: number): Readable {
    if (size === 0) return Readable.from([]);
    return createReadStream(this.path(sessionId), { start: 0, end: size - 1 });
  }

  /** Ids of every session file on disk. */
  async list(): Promise<string[]> {
    const names = await readdir(this.#dir).catch(() => [] as string[]);
    return names
      .filter((n) => n.endsWith('.part'))
      .map((n) => n.slice(0, -'.part'.length))
      .filter((id) => SESSION_ID.test(id));
  }

  /** Deletes a session's file (missing is fine). */
  async remove(sessionId: string): Promise<void> {
    await rm(this.path(sessionId), { force: true });
  }
}
