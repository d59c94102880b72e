import { ApiError, api, CLIENT_HEADER, toProblem, unwrap } from '../api/client';

/** An upload session as the service reports it (`/api/v1/uploads/{id}`). */
export interface UploadSession {
  readonly id: string;
  readonly size: number;
  readonly offset: number;
  readonly complete: boolean;
}

/** Default chunk of a browser upload: small enough that the progress moves often. */
export const DEFAULT_CHUNK_BYTES = 1024 * 1024;

export interface UploadOptions {
  /** Bytes per `PUT` (the service accepts up to `uploads.maxChunkBytes`, 16 MiB by default). */
  readonly chunkBytes?: number;
  /** A session of an earlier attempt of this file: continued from the service's offset. */
  readonly resumeId?: string;
  /** Failed chunks retried in a row (each after asking the service where to resume). */
  readonly retries?: number;
  readonly signal?: AbortSignal;
  /** The session id as soon as it exists (to resume or abandon it later). */
  readonly onSession?: (id: string) => void;
  /** Bytes the service acknowledged so far, after each chunk. */
  readonly onProgress?: (acknowledged: number, total: number) => void;
}

/**
 * Uploads `file` through a resumable session of the service, the same protocol the CLI uses:
 * `POST /api/v1/uploads {size}`, then `PUT /api/v1/uploads/{id}?offset=` raw chunks at the offset
 * the service acknowledged. A chunk that fails (network error, refusal, lost answer) is retried
 * from the offset the service reports (`GET /api/v1/uploads/{id}`), so nothing is sent twice and
 * nothing is skipped. Returns the completed session's id, to be named in `POST /api/v1/releases`.
 */
export async function uploadResumable(file: Blob, options: UploadOptions = {}): Promise<string> {
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const retries = options.retries ?? 3;
  const signal = options.signal;
  let session: UploadSession | undefined;
  if (options.resumeId !== undefined) {
    try {
      session = await getSession(options.resumeId);
      if (session.size !== file.size) session = undefined;
    } catch (error) {
      // Expired or removed: start a new session.
      if (!(error instanceof ApiError && error.problem.status === 404)) throw error;
    }
  }
  session ??= await unwrap(
    api.POST('/api/v1/uploads', { body: { size: file.size }, signal: signal ?? null }),
  );
  options.onSession?.(session.id);
  options.onProgress?.(session.offset, file.size);
  let failures = 0;
  while (!session.complete && session.offset < file.size) {
    signal?.throwIfAborted();
    const end = Math.min(session.offset + chunkBytes, file.size);
    try {
      const bytes = await readBlob(file.slice(session.offset, end));
      session = await putChunk(session.id, session.offset, bytes, signal);
      failures = 0;
    } catch (error) {
      if (signal?.aborted || failures >= retries) throw error;
      failures += 1;
      // The service may have stored more (or less) than we know: continue where it says.
      session = await getSession(session.id);
    }
    options.onProgress?.(session.offset, file.size);
  }
  return session.id;
}

/** Abandons a session (best effort: an expired one is already gone). */
export async function abandonUpload(id: string): Promise<void> {
  await api.DELETE('/api/v1/uploads/{id}', { params: { path: { id } } }).catch(() => undefined);
}

function getSession(id: string): Promise<UploadSession> {
  return unwrap(api.GET('/api/v1/uploads/{id}', { params: { path: { id } } }));
}

async function putChunk(
  id: string,
  offset: number,
  bytes: ArrayBuffer,
  signal: AbortSignal | undefined,
): Promise<UploadSession> {
  const url = `${globalThis.location?.origin ?? ''}/api/v1/uploads/${encodeURIComponent(id)}?offset=${offset}`;
  const response = await globalThis.fetch(url, {
    method: 'PUT',
    credentials: 'same-origin',
    headers: { ...CLIENT_HEADER, 'content-type': 'application/octet-stream' },
    body: bytes,
    signal: signal ?? null,
  });
  const body: unknown = await response.json().catch(() => undefined);
  if (!response.ok) throw new ApiError(toProblem(response.status, body));
  return body as UploadSession;
}

/** Base64 of `file` (the envelope travels inline in the release request). */
export async function base64Of(file: Blob): Promise<string> {
  const bytes = new Uint8Array(await readBlob(file));
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** The bytes of `blob` (FileReader where Blob.arrayBuffer is missing, e.g. jsdom). */
export function readBlob(blob: Blob): Promise<ArrayBuffer> {
  if (typeof blob.arrayBuffer === 'function') return blob.arrayBuffer();
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result as ArrayBuffer);
    reader.onerror = () => reject(reader.error);
    reader.readAsArrayBuffer(blob);
  });
}
