import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { UserPrincipal } from '../../auth/principal.js';
import { ServerError } from '../../errors.js';
import { releaseDeltaSavings } from '../deltas/delta.repository.js';
import { uploaderOf } from '../uploads/upload.routes.js';
import { findEnvelope, findRelease, listReleases } from './release.repository.js';
import type { ChangeContext, ReleaseService } from './release.service.js';

/** Largest envelope accepted (bytes); SUIT envelopes are a few KiB. */
export const MAX_ENVELOPE_BYTES = 1024 * 1024;
/** Largest single-request release body (bytes): small payloads inline, base64. */
export const MAX_INLINE_RELEASE_BYTES = 32 * 1024 * 1024;

const Base64 = Type.String({ pattern: '^[A-Za-z0-9+/]*={0,2}$' });
const Id = (prefix: string) => Type.String({ pattern: `^${prefix}_[A-Za-z0-9_-]{1,64}$` });
const ComponentId = Type.String({ pattern: '^[0-9a-f]{2,256}$' });
/** A payload's file name: no path, no control or shell characters (clients key formats on it). */
const FileName = Type.String({ pattern: '^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$' });

const PayloadSchema = Type.Object({
  componentId: ComponentId,
  sha256: Type.String(),
  sha1: Type.String(),
  md5: Type.String(),
  size: Type.Integer(),
  fileName: Type.Union([Type.String(), Type.Null()]),
});
const ComponentSchema = Type.Object({
  id: Type.String(),
  imageDigest: Type.Union([Type.String(), Type.Null()]),
  imageSize: Type.Union([Type.Integer(), Type.Null()]),
  encrypted: Type.Boolean(),
  integrated: Type.Boolean(),
});
const ReleaseSchema = Type.Object({
  id: Type.String(),
  deviceClassId: Type.String(),
  version: Type.String(),
  sequenceNumber: Type.Integer(),
  manifestDigest: Type.String(),
  signerKids: Type.Array(Type.String()),
  components: Type.Array(ComponentSchema),
  text: Type.Union([Type.Record(Type.String(), Type.String()), Type.Null()]),
  envelopeSize: Type.Integer(),
  payloads: Type.Array(PayloadSchema),
  createdAt: Type.String(),
  createdBy: Type.Union([Type.String(), Type.Null()]),
});

const NewReleaseBody = Type.Object(
  {
    deviceClassId: Type.String({ minLength: 1, maxLength: 128 }),
    version: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9.+_-]+$' }),
    ),
    /** The signed SUIT envelope, base64. */
    envelope: Type.String({
      ...Base64,
      minLength: 4,
      maxLength: Math.ceil(MAX_ENVELOPE_BYTES / 3) * 4,
    }),
    payloads: Type.Array(
      Type.Union([
        Type.Object(
          {
            uploadId: Id('upl'),
            componentId: Type.Optional(ComponentId),
            fileName: Type.Optional(FileName),
          },
          { additionalProperties: false },
        ),
        Type.Object(
          {
            data: Base64,
            componentId: Type.Optional(ComponentId),
            fileName: Type.Optional(FileName),
          },
          { additionalProperties: false },
        ),
      ]),
      { maxItems: 64 },
    ),
  },
  { additionalProperties: false },
);

function context(request: FastifyRequest): ChangeContext {
  const p = request.principal as UserPrincipal;
  return { tenantId: p.tenantId, actorId: p.userId, ip: request.ip, requestId: request.id };
}

/**
 * `/api/v1/releases`: upload (envelope + payloads, verified before anything is stored), list,
 * get, fetch the envelope, delete.
 */
export const releaseRoutes: FastifyPluginAsyncTypebox<{
  releases: ReleaseService;
}> = async (app, { releases }) => {
  app.post(
    '/releases',
    {
      config: { permission: 'releases:write' },
      bodyLimit: MAX_INLINE_RELEASE_BYTES,
      schema: {
        summary: 'Upload a signed release',
        description:
          'The envelope is verified against the device class trusted (non-revoked) keys; each payload (inline base64 `data` for small ones, or an `uploadId` of a completed resumable upload) must match its manifest component digest and size. Nothing is stored unless everything verifies.',
        tags: ['releases'],
        body: NewReleaseBody,
        response: { 201: ReleaseSchema },
      },
    },
    async (request, reply) => {
      const ctx = context(request);
      const envelope = Buffer.from(request.body.envelope, 'base64');
      if (envelope.length > MAX_ENVELOPE_BYTES)
        throw new ServerError('HTTP_BODY_TOO_LARGE', 'the envelope is too large');
      const release = await releases.createFrom(
        ctx,
        {
          deviceClassId: request.body.deviceClassId,
          envelope,
          payloads: request.body.payloads.map((p) =>
            'uploadId' in p
              ? p
              : {
                  data: Buffer.from(p.data, 'base64'),
                  componentId: p.componentId,
                  fileName: p.fileName,
                },
          ),
          version: request.body.version,
        },
        uploaderOf(request),
      );
      request.auditWritten = true;
      return reply.code(201).send(release);
    },
  );

  app.get(
    '/releases',
    {
      config: { permission: 'releases:read' },
      schema: {
        summary: 'List releases, newest first',
        tags: ['releases'],
        querystring: Type.Object({
          deviceClassId: Type.Optional(Type.String({ maxLength: 128 })),
          limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
          after: Type.Optional(Type.String({ maxLength: 128 })),
        }),
        response: { 200: Type.Object({ items: Type.Array(ReleaseSchema) }) },
      },
    },
    async (request) => {
      const p = request.principal as UserPrincipal;
      return { items: await listReleases(app.updraft.db, p.tenantId, request.query) };
    },
  );

  app.get(
    '/releases/:id',
    {
      config: { permission: 'releases:read' },
      schema: {
        summary: 'A release: manifest summary, components, text, signer kids, payload digests',
        tags: ['releases'],
        params: Type.Object({ id: Type.String({ maxLength: 128 }) }),
        response: {
          200: Type.Object({
            ...ReleaseSchema.properties,
            deltaDeliveries: Type.Integer(),
            deltaBytesSaved: Type.Integer(),
          }),
        },
      },
    },
    async (request) => {
      const tenantId = (request.principal as UserPrincipal).tenantId;
      const release = await findRelease(app.updraft.db, tenantId, request.params.id);
      if (release === undefined)
        throw new ServerError('RESOURCE_NOT_FOUND', `release ${request.params.id} not found`);
      // Bytes the deltas feature saved delivering this release (patches instead of full images).
      const savings = await releaseDeltaSavings(app.updraft.db, tenantId, release.id);
      return {
        ...release,
        deltaDeliveries: savings.deliveries,
        deltaBytesSaved: savings.bytesSaved,
      };
    },
  );

  app.get(
    '/releases/:id/envelope',
    {
      config: { permission: 'releases:read' },
      schema: {
        summary: 'The signed SUIT envelope bytes',
        tags: ['releases'],
        params: Type.Object({ id: Type.String({ maxLength: 128 }) }),
      },
    },
    async (request, reply) => {
      const bytes = await findEnvelope(
        app.updraft.db,
        (request.principal as UserPrincipal).tenantId,
        request.params.id,
      );
      if (bytes === undefined)
        throw new ServerError('RESOURCE_NOT_FOUND', `release ${request.params.id} not found`);
      return reply.type('application/suit-envelope+cose').send(bytes);
    },
  );

  app.delete(
    '/releases/:id',
    {
      config: { permission: 'releases:write' },
      schema: {
        summary: 'Delete a release (refused while an open action deploys it)',
        tags: ['releases'],
        params: Type.Object({ id: Type.String({ maxLength: 128 }) }),
      },
    },
    async (request, reply) => {
      await releases.delete(context(request), request.params.id);
      request.auditWritten = true;
      return reply.code(204).send();
    },
  );
};
