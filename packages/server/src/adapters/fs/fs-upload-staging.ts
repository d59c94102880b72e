import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  checkSessionId,
  chunkChain,
  chunkName,
  chunkOffset,
  isSessionId,
  type ReceivedChunk,
  type UploadStaging,
} from '../../ports/upload-staging.js';
import { removeIdleFiles } from './remove-idle-files.js';
import { spoolChunk } from './spool-chunk.js';

/**
 * Upload sessions staged as files under the blob store's directory (`blobs.dir`), which every
 * fs-mode replica shares: `uploads/<session>/<offset>` per acknowledged chunk, and
 * `upload-spool/<session>.<random>` per chunk being received. A received chunk is fsync'd in the
 * spool, then renamed onto its offset (atomic, same file system) and the directory fsync'd, so
 * an acknowledged chunk survives a crash and a half-received one never replaces a chunk.
 */
export class FsUploadStaging implements UploadStaging {
  readonly #sessions: string;
  readonly #spool: string;

  /** `dir` is the blob store's directory (`blobs.dir`). */
  constructor(dir: string) {
    this.#sessions = path.join(dir, 'uploads');
    this.#spool = path.join(dir, 'upload-spool');
  }

  async init(): Promise<void> {
    await mkdir(this.#sessions, { recursive: true, mode: 0o700 });
    await mkdir(this.#spool, { recursive: true, mode: 0o700 });
  }

  async close(): Promise<void> {}

  async receive(sessionId: string, body: Readable, maxBytes: number): Promise<ReceivedChunk> {
    const dir = this.#dir(sessionId);
    const spooled = path.join(this.#spool, `${sessionId}.${randomBytes(8).toString('hex')}`);
    const size = await spoolChunk(body, spooled, maxBytes, true);
    const sessions = this.#sessions;
    let placed = false;
    return {
      sessionId,
      size,
      async place(offset) {
        const created = await mkdir(dir, { recursive: true, mode: 0o700 });
        await rename(spooled, path.join(dir, chunkName(offset)));
        placed = true;
        // The rename (and a new session directory) must be durable before the offset commits.
        await syncDir(dir);
        if (created !== undefined) await syncDir(sessions);
      },
      async discard() {
        if (!placed) await rm(spooled, { force: true });
      },
    };
  }

  read(sessionId: string, size: number): Readable {
    const dir = this.#dir(sessionId);
    return Readable.from(
      (async function* () {
        if (size === 0) return;
        const names = await readdir(dir).catch(() => [] as string[]);
        const stored = new Map<number, number>();
        for (const name of names) {
          const offset = chunkOffset(name);
          if (offset !== undefined) stored.set(offset, (await stat(path.join(dir, name))).size);
        }
        for (const chunk of chunkChain(stored, size)) {
          if (chunk.size === 0) continue;
          yield* createReadStream(path.join(dir, chunkName(chunk.offset)), {
            start: 0,
            end: chunk.size - 1,
          });
        }
      })(),
    );
  }

  async remove(sessionId: string): Promise<void> {
    await rm(this.#dir(sessionId), { recursive: true, force: true });
  }

  async list(): Promise<string[]> {
    const names = await readdir(this.#sessions).catch(() => [] as string[]);
    return names.filter(isSessionId);
  }

  sweepSpool(maxAgeMs: number): Promise<number> {
    // Other replicas spool here too: only files untouched for maxAgeMs are abandoned.
    return removeIdleFiles(this.#spool, maxAgeMs);
  }

  #dir(sessionId: string): string {
    return path.join(this.#sessions, checkSessionId(sessionId));
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
