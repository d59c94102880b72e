import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Kysely, Transaction } from 'kysely';
import { newId } from '../../auth/secrets.js';
import type { Database } from '../../db/database.js';
import type { DialectSupport } from '../../db/dialect-support.js';
import { ServerError } from '../../errors.js';
import type { UploadStaging } from '../../ports/upload-staging.js';
import { digestsOf, type PayloadDigests } from './payload-digests.js';
import {
  advanceUploadOffset,
  deleteStaleUploadSession,
  deleteUploadSessions,
  existingUploadSessionIds,
  findUploadSession,
  findUploadSessionById,
  insertUploadSession,
  lockUploadQuota,
  lockUploadSession,
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

/** A chunk spooled but never placed (its replica crashed) is swept after an hour untouched. */
export const UPLOAD_SPOOL_MAX_AGE_MS = 3_600_000;

/**
 * Resumable chunked uploads: create a session with the total size, PUT chunks at the
 * acknowledged offset, then hand the session to a release. The bytes live in an
 * {@link UploadStaging} every replica reaches (the blob store's directory, or the S3 bucket) and
 * the offset in the database, so any replica continues an upload another started. A chunk is
 * received first, with no lock held; then, under the session's row lock, the service checks the
 * offset, places the chunk (durable in the staging) and commits the new offset: of two writers
 * of one offset exactly one is acknowledged, and the other can never overwrite its bytes. All
 * SQL is in `upload.repository.ts`.
 */
export class UploadService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly support: Pick<
      DialectSupport,
      'supportsConcurrentWriters' | 'transactionLockStatement'
    >,
    private readonly staging: UploadStaging,
    private readonly limits: UploadLimits,
    private readonly now: () => Date,
  ) {}

  /** The bounds in force (the routes size their body limit from them). */
  get maxChunkBytes(): number {
    return this.limits.maxChunkBytes;
  }

  /**
   * Opens a session for `size` bytes, within the size limit, the user's session count and the
   * server's staged bytes (`UPLOAD_TOO_LARGE`, `UPLOAD_QUOTA_EXCEEDED`). The quota check and the
   * insert run in one transaction under a lock every replica takes, so they cannot interleave.
   */
  async create(owner: Uploader, size: number): Promise<UploadSession> {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.limits.maxUploadBytes) {
      throw new ServerError(
        'UPLOAD_TOO_LARGE',
        `upload size must be 0..${this.limits.maxUploadBytes} bytes`,
        { details: { maxUploadBytes: this.limits.maxUploadBytes } },
      );
    }
    return this.db.transaction().execute(async (trx) => {
      await lockUploadQuota(trx, this.support);
      const usage = await uploadUsage(trx, owner.tenantId, owner.userId);
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
      await insertUploadSession(trx, row);
      return toSession(row);
    });
  }

  /** The caller's own session, or `RESOURCE_NOT_FOUND` (another user's session is not shown). */
  async get(owner: Uploader, id: string): Promise<UploadSession> {
    return toSession(await this.#own(owner, id));
  }

  /**
   * Appends a chunk at `offset` (must equal the acknowledged offset). The body is received
   * before any lock is taken (a slow client holds none); a writer that finds the offset moved
   * meanwhile gets `UPLOAD_OFFSET_MISMATCH` and its bytes are dropped.
   */
  async putChunk(
    owner: Uploader,
    id: string,
    offset: number,
    body: Readable,
  ): Promise<UploadSession> {
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
        {
          details: { expected: session.offset, actual: offset },
        },
      );
    }
    const room = Math.min(this.limits.maxChunkBytes, session.size - session.offset);
    const chunk = await this.staging.receive(id, body, room);
    try {
      return await this.db.transaction().execute(async (trx) => {
        const row = await lockUploadSession(trx, this.support, owner.tenantId, id);
        if (row === undefined || row.created_by !== owner.userId)
          throw new ServerError('RESOURCE_NOT_FOUND', `upload ${id} not found`);
        if (Number(row.received) !== offset) {
          throw new ServerError(
            'UPLOAD_OFFSET_MISMATCH',
            'the upload moved on concurrently; ask for its offset',
            { details: { expected: Number(row.received), actual: offset } },
          );
        }
        const end = offset + chunk.size;
        // Placed before the offset commits: a failed commit leaves an unacknowledged chunk at
        // `offset`, which the next attempt replaces and every read ignores.
        if (chunk.size > 0) await chunk.place(offset);
        const at = this.now().toISOString();
        if (!(await advanceUploadOffset(trx, owner.tenantId, id, offset, end, at)))
          throw new ServerError('UPLOAD_OFFSET_MISMATCH', 'the upload moved on concurrently');
        return toSession({ ...row, received: end, updated_at: at });
      });
    } finally {
      await chunk.discard();
    }
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
    return digestsOf(this.staging.read(id, session.size), session.size);
  }

  /** A stream of a complete session's bytes. */
  read(id: string, size: number): Readable {
    return this.staging.read(id, size);
  }

  /**
   * Drops a session: the creator's own, or any of the tenant's for an admin (row first, so a
   * crash leaves at worst orphan chunks, never a dangling row).
   */
  async remove(owner: Uploader, id: string): Promise<void> {
    const row = await findUploadSession(this.db, owner.tenantId, id);
    if (row === undefined || (row.created_by !== owner.userId && !owner.isAdmin))
      throw new ServerError('RESOURCE_NOT_FOUND', `upload ${id} not found`);
    if ((await deleteUploadSessions(this.db, owner.tenantId, [id])) !== 1)
      throw new ServerError('RESOURCE_NOT_FOUND', `upload ${id} not found`);
    await this.staging.remove(id);
  }

  /** Deletes the rows of sessions a release consumed, inside the release's transaction. */
  async consume(trx: Transaction<Database>, tenantId: string, ids: readonly string[]) {
    await deleteUploadSessions(trx, tenantId, ids);
  }

  /** Deletes a session's staged chunks after its row went away in another transaction. */
  async discardStaged(id: string): Promise<void> {
    await this.staging.remove(id);
  }

  /**
   * Drops sessions untouched for `maxAgeMs` (abandoned uploads), rows first, then their chunks;
   * returns how many went. Bounds the space that half-finished uploads can hold. A session
   * another replica touched meanwhile keeps its row and its chunks.
   */
  async expireStale(maxAgeMs: number): Promise<number> {
    const cutoff = new Date(this.now().getTime() - maxAgeMs).toISOString();
    let removed = 0;
    for (const id of await staleUploadSessionIds(this.db, cutoff)) {
      if (!(await deleteStaleUploadSession(this.db, id, cutoff))) continue;
      await this.staging.remove(id);
      removed++;
    }
    return removed;
  }

  /**
   * Deletes staged chunks that no session row names (left by a crash between the two), and
   * spooled chunk bodies abandoned by a crashed replica; returns how many sessions went.
   */
  async sweepOrphans(): Promise<number> {
    await this.staging.sweepSpool(UPLOAD_SPOOL_MAX_AGE_MS);
    const ids = await this.staging.list();
    if (ids.length === 0) return 0;
    const known = await existingUploadSessionIds(this.db, ids);
    let removed = 0;
    for (const id of ids) {
      if (!known.has(id)) {
        await this.staging.remove(id);
        removed++;
      }
    }
    return removed;
  }

  /**
   * Adopts the bytes an older version staged for session `id` in one local file: its first
   * `received` bytes become the session's chunk at 0 (bytes past it were never acknowledged).
   * False, changing nothing, when the row is gone, holds nothing, or the file is short.
   */
  async adoptLegacyFile(id: string, file: string): Promise<boolean> {
    const row = await findUploadSessionById(this.db, id);
    const received = Number(row?.received ?? 0);
    if (row === undefined || received === 0) return false;
    if ((await stat(file)).size < received) return false;
    const bytes = createReadStream(file, { start: 0, end: received - 1 });
    const chunk = await this.staging.receive(id, bytes, received);
    try {
      return await this.db.transaction().execute(async (trx) => {
        const locked = await lockUploadSession(trx, this.support, row.tenant_id, id);
        if (locked === undefined || Number(locked.received) !== received) return false;
        await chunk.place(0);
        return true;
      });
    } finally {
      await chunk.discard();
    }
  }

  async #own(owner: Uploader, id: string): Promise<UploadSessionTable> {
    const row = await findUploadSession(this.db, owner.tenantId, id);
    if (row === undefined || row.created_by !== owner.userId)
      throw new ServerError('RESOURCE_NOT_FOUND', `upload ${id} not found`);
    return row;
  }
}
