import type { Readable } from 'node:stream';
import { ServerError } from '../errors.js';

/**
 * A chunk body taken in by {@link UploadStaging.receive}: wholly received and durable, but not
 * yet part of its session. The service places it while it holds the session's row lock, then
 * commits the new offset; whatever happens, it calls `discard()` afterwards.
 */
export interface ReceivedChunk {
  readonly sessionId: string;
  /** Bytes received. */
  readonly size: number;
  /**
   * Stores the bytes as the session's chunk at `offset`, replacing an unacknowledged chunk left
   * there by an earlier attempt. Only while holding the session's row lock, with `offset` the
   * acknowledged offset: that is what keeps two writers off the same chunk.
   */
  place(offset: number): Promise<void>;
  /** Drops what `receive` spooled (idempotent; nothing to do after `place`). */
  discard(): Promise<void>;
}

/**
 * Where the bytes of resumable upload sessions live, reachable from every replica: the session
 * is a chain of chunks, each stored under its zero-padded offset. The database row's `received`
 * is the truth: the chunks from 0 up to `received` are the session's bytes, a chunk at
 * `received` or beyond is an unacknowledged attempt and is ignored (and replaced or deleted).
 * Two implementations (`adapters/fs`, `adapters/s3`) pass `runUploadStagingContract`.
 */
export interface UploadStaging {
  /** Prepares the backend (directories); call once at start. */
  init(): Promise<void>;
  /**
   * Takes in one chunk body of at most `maxBytes` (else `UPLOAD_TOO_LARGE`, after reading a
   * bounded excess so the client gets its answer) without touching the session's chunks. It
   * holds no lock while the client sends: a slow client never blocks another writer.
   */
  receive(sessionId: string, body: Readable, maxBytes: number): Promise<ReceivedChunk>;
  /**
   * Streams the first `size` bytes of the session: the chunk at 0, then the chunk where it
   * ends, and so on. `UPLOAD_INCOMPLETE` (as a stream error) when the chain stops short.
   */
  read(sessionId: string, size: number): Readable;
  /** Deletes every chunk of a session (missing is fine). */
  remove(sessionId: string): Promise<void>;
  /** Ids of every session with staged chunks (for the sweep of orphans). */
  list(): Promise<string[]>;
  /** Deletes spooled chunk bodies untouched for `maxAgeMs` (left by a crash); returns how many. */
  sweepSpool(maxAgeMs: number): Promise<number>;
  close(): Promise<void>;
}

/** Digits of a chunk's name: any safe integer offset (< 2^53 < 10^16) fits. */
const OFFSET_DIGITS = 16;
const CHUNK_NAME = /^[0-9]{16}$/;
const SESSION_ID = /^upl_[A-Za-z0-9_-]{16,64}$/;

/** The name of the chunk at `offset`: zero-padded so names sort as offsets do. */
export function chunkName(offset: number): string {
  return String(offset).padStart(OFFSET_DIGITS, '0');
}

/** The offset a chunk name stands for, or undefined for any other name. */
export function chunkOffset(name: string): number | undefined {
  return CHUNK_NAME.test(name) ? Number(name) : undefined;
}

/**
 * A session id as the server generates it; throws `RESOURCE_NOT_FOUND` otherwise, so an id can
 * never name another path or key.
 */
export function checkSessionId(sessionId: string): string {
  if (!SESSION_ID.test(sessionId)) throw new ServerError('RESOURCE_NOT_FOUND', 'no such upload');
  return sessionId;
}

/** True for a session id as the server generates it. */
export function isSessionId(value: string): boolean {
  return SESSION_ID.test(value);
}

/**
 * The chunks holding the first `size` bytes, in order: from offset 0, each the one where the
 * previous ended; chunks off that chain (unacknowledged attempts) are left out.
 * `UPLOAD_INCOMPLETE` when the chain stops short of `size`.
 */
export function chunkChain(
  stored: ReadonlyMap<number, number>,
  size: number,
): { offset: number; size: number }[] {
  const chain: { offset: number; size: number }[] = [];
  let at = 0;
  while (at < size) {
    const length = stored.get(at);
    if (length === undefined || length === 0)
      throw new ServerError('UPLOAD_INCOMPLETE', `upload holds ${at} of ${size} bytes`);
    chain.push({ offset: at, size: Math.min(length, size - at) });
    at += length;
  }
  return chain;
}
