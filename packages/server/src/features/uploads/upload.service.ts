import type { Readable } from 'node:stream';
import type { Kysely, Transaction } from 'kysely';
import { newId } from '../../auth/secrets.js';
import type { Database } from '../../db/database.js';
import { ServerError } from '../../errors.js';
import type { ChunkFile, PayloadDigests } from './chunk-file.js';
import {
  advanceUploadOffset,
  deleteStaleUploadSession,
  deleteUploadSessions,
  existingUploadSessionIds,
  findUploadSession,
  insertUploadSession,
  staleUploadSessionIds,
  uploadUsage,
} from './upload.repository.js';
import type { UploadSessionTable } from './upload-session.table.js';

/** An upload session as the API shows it. */
export interface UploadSession {
  readonly id: string;
  readonly size: number;
  /** Bytes acknowledged so far: the offset of the next chunk. */
  readonly offset: number;
  readonly complete: boolean;
  readonly createdAt: string;
}

/** Bounds of uploads (config `uploads.*`). */
export interface UploadLimits {
  /** Largest size a session may declare (bytes). */
  readonly maxUploadBytes: number;
  /** Largest chunk one PUT may carry (bytes). */
  readonly maxChunkBytes: number;
  /** Open sessions one user may hold. */
  readonly maxSessionsPerUser: number;
  /** Bytes every open session of the server may declare together. */
  readonly maxStagedBytes: number;
}

/**
 * Who is asking. A session belongs to the user who opened it: only they see, extend and use it;
 * an admin may also delete it (abandoned uploads of others).
 */
export interface Uploader {
  readonly tenantId: string;
  readonly userId: string;
  readonly isAdmin: boolean;
}

function toSession(row: UploadSessionTable): UploadSession {
  const size = Number(row.size);
  const offset = Number(row.received);
  return { id: row.id, size, offset, complete: offset === size, createdAt: row.created_at };
}

/**
 * Resumable chunked uploads: create a session with the total size, PUT chunks at the
 * acknowledged offset, then hand the session to a release. Each chunk is on disk (fsync'd)
 * before its offset is committed, so after a client or server crash the client asks for the
 * offset and continues from there. A chunk that fails leaves nothing past the acknowledged
 * offset on disk. All SQL is in `upload.repository.ts`.
 */
export class UploadService {
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly files: ChunkFile,
    private readonly limits: UploadLimits,
    private readonly now: () => Date,
  ) {}

  /** The bounds in force (the routes size their body limit from them). */
  get maxChunkBytes(): number {
    return this.limits.maxChunkBytes;
  }

  /**
   * Opens a session for `size` bytes, within the size limit, the user's session count and the
   * server's staged bytes (`UPLOAD_TOO_LARGE`, `UPLOAD_QUOTA_EXCEEDED`). Creations are
   * serialised in this process so the quota check and the insert cannot interleave.
   */
  async create(owner: Uploader, size: number): Promise<UploadSession> {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.limits.maxUploadBytes) {
      throw new ServerError(
        'UPLOAD_TOO_LARGE',
        `upload size must be 0..${this.limits.maxUploadBytes} bytes`,
        { details: { maxUploadBytes: this.limits.maxUploadBytes } },
      );
    }
    return this.#serial('create', async () => {
      const usage = await uploadUsage(this.db, owner.tenantId, owner.userId);
      if (usage.userSessions >= this.limits.maxSessionsPerUser) {
        throw new ServerError(
          'UPLOAD_QUOTA_EXCEEDED',
          `you have ${usage.userSessions} open upload sessions (at most ${this.limits.maxSessionsPerUser}); finish or delete one`,
          { details: { maxSessionsPerUser: this.limits.maxSessionsPerUser } },
        );
      }
      if (usage.stagedBytes + size > this.limits.maxStagedBytes) {
        throw new ServerError(
          'UPLOAD_QUOTA_EXCEEDED',
          `open uploads already stage ${usage.stagedBytes} of ${this.limits.maxStagedBytes} bytes`,
          { details: { maxStagedBytes: this.limits.maxStagedBytes } },
        );
      }
      const at = this.now().toISOString();
      const row: UploadSessionTable = {
        id: newId('upl'),
        tenant_id: owner.tenantId,
        size,
        received: 0,
        created_by: owner.userId,
        created_at: at,
        updated_at: at,
      };
      await insertUploadSession(this.db, row);
      return toSession(row);
    });
  }

  /** The caller's own session, or `RESOURCE_NOT_FOUND` (another user's session is not shown). */
  async get(owner: Uploader, id: string): Promise<UploadSession> {
    return toSession(await this.#own(owner, id));
  }

  /** Appends a chunk at `offset` (must equal the acknowledged offset). */
  async putChunk(
    owner: Uploader,
    id: string,
    offset: number,
    body: Readable,
  ): Promise<UploadSession> {
    return this.#serial(id, async () => {
      let session: UploadSession;
      try {
        session = await this.get(owner, id);
      } catch (error) {
        body.resume();
        throw error;
      }
      if (offset !== session.offset) {
        body.resume();
        throw new ServerError(
          'UPLOAD_OFFSET_MISMATCH',
          `expected a chunk at offset ${session.offset}`,
          { details: { expected: session.offset, actual: offset } },
        );
      }
      const room = Math.min(this.limits.maxChunkBytes, session.size - session.offset);
      const end = await this.files.append(id, session.offset, body, room);
      const moved = await advanceUploadOffset(
        this.db,
        owner.tenantId,
        id,
        session.offset,
        end,
        this.now().toISOString(),
      );
      if (!moved) {
        throw new ServerError(
          'UPLOAD_OFFSET_MISMATCH',
          'the upload moved on concurrently; ask for its offset',
        );
      }
      return { ...session, offset: end, complete: end === session.size };
    });
  }

  /** Digests of the caller's complete session's bytes (`UPLOAD_INCOMPLETE` otherwise). */
  async digests(owner: Uploader, id: string): Promise<PayloadDigests> {
    const session = await this.get(owner, id);
    if (!session.complete) {
      throw new ServerError(
        'UPLOAD_INCOMPLETE',
        `upload ${id} has ${session.offset} of ${session.size} bytes`,
      );
    }
    return this.files.digests(id, session.size);
  }

  /** A stream of a complete session's bytes. */
  read(id: string, size: number): Readable {
    return this.files.read(id, size);
  }

  /**
   * Drops a session: the creator's own, or any of the tenant's for an admin (row first, so a
   * crash leaves at worst an orphan file, never a dangling row).
   */
  async remove(owner: Uploader, id: string): Promise<void> {
    const row = await findUploadSession(this.db, owner.tenantId, id);
    if (row === undefined || (row.created_by !== owner.userId && !owner.isAdmin))
      throw new ServerError('RESOURCE_NOT_FOUND', `upload ${id} not found`);
    if ((await deleteUploadSessions(this.db, owner.tenantId, [id])) !== 1)
      throw new ServerError('RESOURCE_NOT_FOUND', `upload ${id} not found`);
    await this.files.remove(id);
  }

  /** Deletes the rows of sessions a release consumed, inside the release's transaction. */
  async consume(trx: Transaction<Database>, tenantId: string, ids: readonly string[]) {
    await deleteUploadSessions(trx, tenantId, ids);
  }

  /** Deletes a session's file after its row went away in another transaction (release create). */
  async discardFile(id: string): Promise<void> {
    await this.files.remove(id);
  }

  /**
   * Drops sessions untouched for `maxAgeMs` (abandoned uploads), rows first, then their files;
   * returns how many went. Bounds the disk that half-finished uploads can hold.
   */
  async expireStale(maxAgeMs: number): Promise<number> {
    const cutoff = new Date(this.now().getTime() - maxAgeMs).toISOString();
    const stale = await staleUploadSessionIds(this.db, cutoff);
    for (const id of stale) {
      await deleteStaleUploadSession(this.db, id, cutoff);
      await this.files.remove(id);
    }
    return stale.length;
  }

  /** Deletes files that no session row names (left by a crash between the two). */
  async sweepOrphans(): Promise<number> {
    const ids = await this.files.list();
    if (ids.length === 0) return 0;
    const known = await existingUploadSessionIds(this.db, ids);
    let removed = 0;
    for (const id of ids) {
      if (!known.has(id)) {
        await this.files.remove(id);
        removed++;
      }
    }
    return removed;
  }

  async #own(owner: Uploader, id: string): Promise<UploadSessionTable> {
    const row = await findUploadSession(this.db, owner.tenantId, id);
    if (row === undefined || row.created_by !== owner.userId)
      throw new ServerError('RESOURCE_NOT_FOUND', `upload ${id} not found`);
    return row;
  }

  #serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(key) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const settled = next.catch(() => undefined);
    this.#locks.set(key, settled);
    void settled.then(() => {
      if (this.#locks.get(key) === settled) this.#locks.delete(key);
    });
    return next;
  }
}
