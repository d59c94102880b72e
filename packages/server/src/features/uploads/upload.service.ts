import type { Readable } from 'node:stream';
import type { Kysely } from 'kysely';
import { newId } from '../../auth/secrets.js';
import type { Database } from '../../db/database.js';
import { ServerError } from '../../errors.js';
import type { ChunkFile, PayloadDigests } from './chunk-file.js';
import type { UploadSessionTable } from './upload-session.table.js';
import './upload-session.table.js';

/** An upload session as the API shows it. */
export interface UploadSession {
  readonly id: string;
  readonly size: number;
  /** Bytes acknowledged so far: the offset of the next chunk. */
  readonly offset: number;
  readonly complete: boolean;
  readonly createdAt: string;
}

/** Size bounds for uploads (bytes). */
export interface UploadLimits {
  readonly maxUploadBytes: number;
  readonly maxChunkBytes: number;
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
 * offset and continues from there.
 */
export class UploadService {
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly files: ChunkFile,
    private readonly limits: UploadLimits,
    private readonly now: () => Date,
  ) {}

  /** Opens a session for `size` bytes. */
  async create(tenantId: string, size: number, actorId: string | null): Promise<UploadSession> {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.limits.maxUploadBytes) {
      throw new ServerError(
        'UPLOAD_TOO_LARGE',
        `upload size must be 0..${this.limits.maxUploadBytes} bytes`,
        {
          details: { maxUploadBytes: this.limits.maxUploadBytes },
        },
      );
    }
    const at = this.now().toISOString();
    const row: UploadSessionTable = {
      id: newId('upl'),
      tenant_id: tenantId,
      size,
      received: 0,
      created_by: actorId,
      created_at: at,
      updated_at: at,
    };
    await this.db.insertInto('upload_sessions').values(row).execute();
    return toSession(row);
  }

  /** The tenant's session, or `RESOURCE_NOT_FOUND`. */
  async get(tenantId: string, id: string): Promise<UploadSession> {
    const row = await this.db
      .selectFrom('upload_sessions')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (row === undefined) throw new ServerError('RESOURCE_NOT_FOUND', `upload ${id} not found`);
    return toSession(row);
  }

  /** Appends a chunk at `offset` (must equal the acknowledged offset). */
  async putChunk(
    tenantId: string,
    id: string,
    offset: number,
    body: Readable,
  ): Promise<UploadSession> {
    return this.#serial(id, async () => {
      const session = await this.get(tenantId, id);
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
      const end = await this.files.append(id, session.offset, body, room);
      // Conditional on the old offset: a second writer (another replica) cannot double-count.
      const r = await this.db
        .updateTable('upload_sessions')
        .set({ received: end, updated_at: this.now().toISOString() })
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .where('received', '=', session.offset)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) {
        throw new ServerError(
          'UPLOAD_OFFSET_MISMATCH',
          'the upload moved on concurrently; ask for its offset',
        );
      }
      return { ...session, offset: end, complete: end === session.size };
    });
  }

  /** Digests of a complete session's bytes (`UPLOAD_INCOMPLETE` otherwise). */
  async digests(tenantId: string, id: string): Promise<PayloadDigests> {
    const session = await this.get(tenantId, id);
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

  /** Drops a session (row first, so a crash leaves at worst an orphan file, never a dangling row). */
  async remove(tenantId: string, id: string): Promise<void> {
    const r = await this.db
      .deleteFrom('upload_sessions')
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (Number(r.numDeletedRows) !== 1)
      throw new ServerError('RESOURCE_NOT_FOUND', `upload ${id} not found`);
    await this.files.remove(id);
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
    const stale = await this.db
      .selectFrom('upload_sessions')
      .select('id')
      .where('updated_at', '<', cutoff)
      .execute();
    for (const { id } of stale) {
      await this.db
        .deleteFrom('upload_sessions')
        .where('id', '=', id)
        .where('updated_at', '<', cutoff)
        .execute();
      await this.files.remove(id);
    }
    return stale.length;
  }

  /** Deletes files that no session row names (left by a crash between the two). */
  async sweepOrphans(): Promise<number> {
    const ids = await this.files.list();
    if (ids.length === 0) return 0;
    const known = new Set(
      (
        await this.db.selectFrom('upload_sessions').select('id').where('id', 'in', ids).execute()
      ).map((r) => r.id),
    );
    let removed = 0;
    for (const id of ids) {
      if (!known.has(id)) {
        await this.files.remove(id);
        removed++;
      }
    }
    return removed;
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
