import type { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { ServerError } from '../../errors.js';
import { userOf } from '../../http/access-control.js';
import type { Uploader, UploadService } from './upload.service.js';

const Session = Type.Object({
  id: Type.String(),
  size: Type.Integer(),
  offset: Type.Integer(),
  complete: Type.Boolean(),
  createdAt: Type.String(),
});
const IdParams = Type.Object({ id: Type.String({ pattern: '^upl_[A-Za-z0-9_-]{16,64}$' }) });

/** The caller as an {@link Uploader}: sessions belong to the user who opened them. */
export function uploaderOf(request: FastifyRequest): Uploader {
  const me = userOf(request);
  return { tenantId: me.tenantId, userId: me.userId, isAdmin: me.roles.includes('admin') };
}

/**
 * `/api/v1/uploads`: resumable chunked upload of large payloads. Create a session with the
 * total size, `PUT` raw chunks (`Content-Type: application/octet-stream`) with `?offset=` equal
 * to the session's offset, `GET` the session to learn where to resume, then name the session in
 * a release upload. A session is its creator's (an admin may delete any); sizes, chunk sizes
 * and the number of open sessions are bounded by the `uploads.*` settings.
 */
export const uploadRoutes: FastifyPluginAsyncTypebox<{ uploads: UploadService }> = async (
  app,
  { uploads },
) => {
  // Chunks stream straight to disk; Fastify never buffers them.
  app.addContentTypeParser('application/octet-stream', (_request, payload, done) =>
    done(null, payload),
  );

  app.post(
    '/uploads',
    {
      config: { permission: 'releases:write' },
      schema: {
        summary: 'Open a resumable upload session',
        tags: ['uploads'],
        body: Type.Object({ size: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
        response: { 201: Session },
      },
    },
    async (request, reply) => {
      const session = await uploads.create(uploaderOf(request), request.body.size);
      return reply.code(201).send(session);
    },
  );

  app.get(
    '/uploads/:id',
    {
      config: { permission: 'releases:write' },
      schema: {
        summary: 'Where to resume an upload (your own sessions only)',
        tags: ['uploads'],
        params: IdParams,
        response: { 200: Session },
      },
    },
    async (request) => uploads.get(uploaderOf(request), request.params.id),
  );

  app.put(
    '/uploads/:id',
    {
      config: { permission: 'releases:write' },
      bodyLimit: uploads.maxChunkBytes,
      schema: {
        summary: 'Append one chunk at the session offset',
        tags: ['uploads'],
        params: IdParams,
        querystring: Type.Object({ offset: Type.Integer({ minimum: 0 }) }),
        response: { 200: Session },
      },
    },
    async (request) => {
      const declared = Number(request.headers['content-length'] ?? Number.NaN);
      if (Number.isFinite(declared) && declared > uploads.maxChunkBytes) {
        throw new ServerError(
          'UPLOAD_TOO_LARGE',
          `a chunk may hold at most ${uploads.maxChunkBytes} bytes`,
        );
      }
      const body = request.body as Readable | undefined;
      if (body === undefined || typeof (body as Readable).pipe !== 'function') {
        throw new ServerError(
          'HTTP_UNSUPPORTED_MEDIA_TYPE',
          'send the chunk as application/octet-stream',
        );
      }
      return uploads.putChunk(uploaderOf(request), request.params.id, request.query.offset, body);
    },
  );

  app.delete(
    '/uploads/:id',
    {
      config: { permission: 'releases:write' },
      schema: {
        summary: 'Abandon an upload (yours; an admin may delete any)',
        tags: ['uploads'],
        params: IdParams,
      },
    },
    async (request, reply) => {
      await uploads.remove(uploaderOf(request), request.params.id);
      return reply.code(204).send();
    },
  );
};
