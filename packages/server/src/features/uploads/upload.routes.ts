import type { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { UserPrincipal } from '../../auth/principal.js';
import { ServerError } from '../../errors.js';
import type { UploadLimits, UploadService } from './upload.service.js';

/** Upload limits: 4 GiB per payload, 16 MiB per chunk (bytes). */
export const DEFAULT_UPLOAD_LIMITS: UploadLimits = {
  maxUploadBytes: 4 * 1024 ** 3,
  maxChunkBytes: 16 * 1024 ** 2,
};

const Session = Type.Object({
  id: Type.String(),
  size: Type.Integer(),
  offset: Type.Integer(),
  complete: Type.Boolean(),
  createdAt: Type.String(),
});
const IdParams = Type.Object({ id: Type.String({ pattern: '^upl_[A-Za-z0-9_-]{16,64}$' }) });

function user(principal: unknown): UserPrincipal {
  return principal as UserPrincipal;
}

/**
 * `/api/v1/uploads`: resumable chunked upload of large payloads. Create a session with the
 * total size, `PUT` raw chunks (`Content-Type: application/octet-stream`) with `?offset=` equal
 * to the session's offset, `GET` the session to learn where to resume, then name the session in
 * a release upload.
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
      const p = user(request.principal);
      const session = await uploads.create(p.tenantId, request.body.size, p.userId);
      return reply.code(201).send(session);
    },
  );

  app.get(
    '/uploads/:id',
    {
      config: { permission: 'releases:write' },
      schema: {
        summary: 'Where to resume an upload',
        tags: ['uploads'],
        params: IdParams,
        response: { 200: Session },
      },
    },
    async (request) => uploads.get(user(request.principal).tenantId, request.params.id),
  );

  app.put(
    '/uploads/:id',
    {
      config: { permission: 'releases:write' },
      bodyLimit: DEFAULT_UPLOAD_LIMITS.maxChunkBytes,
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
      if (Number.isFinite(declared) && declared > DEFAULT_UPLOAD_LIMITS.maxChunkBytes) {
        throw new ServerError(
          'UPLOAD_TOO_LARGE',
          `a chunk may hold at most ${DEFAULT_UPLOAD_LIMITS.maxChunkBytes} bytes`,
        );
      }
      const body = request.body as Readable | undefined;
      if (body === undefined || typeof (body as Readable).pipe !== 'function') {
        throw new ServerError(
          'HTTP_UNSUPPORTED_MEDIA_TYPE',
          'send the chunk as application/octet-stream',
        );
      }
      return uploads.putChunk(
        user(request.principal).tenantId,
        request.params.id,
        request.query.offset,
        body,
      );
    },
  );

  app.delete(
    '/uploads/:id',
    {
      config: { permission: 'releases:write' },
      schema: { summary: 'Abandon an upload', tags: ['uploads'], params: IdParams },
    },
    async (request, reply) => {
      await uploads.remove(user(request.principal).tenantId, request.params.id);
      return reply.code(204).send();
    },
  );
};
