import type { FastifyReply, FastifyRequest } from 'fastify';
import { ServerError } from '../../errors.js';
import type { BlobStore } from '../../ports/blob-store.js';
import { parseRange } from './http-range.js';

/** How a blob answer went out, for the caller's metrics. */
export interface BlobAnswer {
  /** `head`, `full` (200) or `range` (206). */
  readonly kind: 'head' | 'full' | 'range';
  /** Bytes in the body. */
  readonly length: number;
  /** True when the body ends at the blob's last byte. */
  readonly toEnd: boolean;
}

/**
 * Answers GET/HEAD for one stored blob of `size` bytes: `Accept-Ranges`, a single `Range` (206 with
 * `Content-Range`; 416 `DEVICE_RANGE_NOT_SATISFIABLE` past the end; anything else ignored → 200),
 * `Content-Length`, and the plaintext streamed from the blob store's ranged read (never buffered
 * whole). `onFinish` runs once the whole body went out (not for an aborted download).
 */
export async function sendBlob(
  request: FastifyRequest,
  reply: FastifyReply,
  blobs: BlobStore,
  blob: { readonly digest: string; readonly size: number },
  onFinish: (answer: BlobAnswer) => void,
): Promise<FastifyReply> {
  const { digest, size } = blob;
  reply
    .header('accept-ranges', 'bytes')
    .header('etag', `"${digest}"`)
    .header('cache-control', 'private, no-transform')
    .type('application/octet-stream');
  const range = parseRange(request.headers.range, size);
  if (range === 'unsatisfiable') {
    reply.header('content-range', `bytes */${size}`);
    throw new ServerError('DEVICE_RANGE_NOT_SATISFIABLE', `the blob has ${size} bytes`);
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? size - 1;
  const length = size === 0 ? 0 : end - start + 1;
  if (range !== null) reply.code(206).header('content-range', `bytes ${start}-${end}/${size}`);
  reply.header('content-length', length);
  const answer: BlobAnswer = {
    kind: request.method === 'HEAD' ? 'head' : range === null ? 'full' : 'range',
    length: request.method === 'HEAD' ? 0 : length,
    toEnd: end === size - 1,
  };
  if (request.method === 'HEAD' || length === 0) {
    reply.raw.once('finish', () => onFinish(answer));
    return reply.send(request.method === 'HEAD' ? undefined : Buffer.alloc(0));
  }
  const stream = await blobs.read(digest, { start, end });
  reply.raw.once('finish', () => onFinish(answer));
  return reply.send(stream);
}
