import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { userOf } from '../../http/access-control.js';
import { auditedBy } from '../../http/audit-hook.js';
import {
  signedBlobRouteSchema,
  verifySignedBlobRequest,
} from '../../signed-url/signed-blob-route.js';
import { sendBlob } from '../device-api/send-blob.js';
import type { DeltaService } from './delta.service.js';

/** Most bases one release may name. */
export const MAX_DELTA_BASES = 32;

const ReleaseId = Type.String({ maxLength: 128 });
const BasesBody = Type.Object(
  {
    /** Earlier releases of the same device class, by id (`rel_…`) or version. */
    bases: Type.Array(
      Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9.+_-]+$' }),
      { maxItems: MAX_DELTA_BASES },
    ),
    /** Any installed image the service holds as an (unencrypted) payload is a base. */
    anyInstalled: Type.Boolean(),
    /** Encode the named bases' patches now instead of at the first matching check-in. */
    eager: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

const DeltaSchema = Type.Object({
  baseDigest: Type.String(),
  targetDigest: Type.String(),
  state: Type.String(),
  targetSize: Type.Integer(),
  patchDigest: Type.Union([Type.String(), Type.Null()]),
  patchSize: Type.Union([Type.Integer(), Type.Null()]),
  errorCode: Type.Union([Type.String(), Type.Null()]),
});
const DeltaViewSchema = Type.Object({
  releaseId: Type.String(),
  anyInstalled: Type.Boolean(),
  baseReleaseIds: Type.Array(Type.String()),
  patches: Type.Array(DeltaSchema),
  deliveries: Type.Integer(),
  bytesSaved: Type.Integer(),
});

/**
 * Management routes of deltas, under `/api/v1`: name a release's delta bases, and see its patches
 * and the bytes they saved.
 */
export const deltaManagementRoutes: FastifyPluginAsyncTypebox<{ deltas: DeltaService }> = async (
  app,
  { deltas },
) => {
  app.put(
    '/releases/:id/delta-bases',
    {
      config: { permission: 'releases:write' },
      schema: {
        summary: 'Name the earlier releases (or any installed image) that get deltas to a release',
        description:
          'Bases are releases of the same device class, by id or version. Patches are created in a bounded background worker: eagerly for named bases (unless `eager` is false), otherwise when a device running the base checks in. Devices get the full payload until a patch is ready, and always when the patch is not smaller.',
        tags: ['releases'],
        params: Type.Object({ id: ReleaseId }),
        body: BasesBody,
        response: { 200: DeltaViewSchema },
      },
    },
    async (request) =>
      deltas.setBases(
        auditedBy(request, 'release.delta-bases', 'release'),
        userOf(request).tenantId,
        request.params.id,
        request.body,
      ),
  );

  app.get(
    '/releases/:id/deltas',
    {
      config: { permission: 'releases:read' },
      schema: {
        summary: "A release's delta bases, cached patches and the bytes deltas saved",
        tags: ['releases'],
        params: Type.Object({ id: ReleaseId }),
        response: { 200: DeltaViewSchema },
      },
    },
    async (request) => deltas.view(userOf(request).tenantId, request.params.id),
  );
};

/**
 * The patch download under `/api/device/v1`: a signed URL from the check-in (like a payload's),
 * with Range resume and HEAD. A download that reaches the last byte counts as a delivery.
 */
export const deltaDeviceRoutes: FastifyPluginAsyncTypebox<{ deltas: DeltaService }> = async (
  app,
  { deltas },
) => {
  const { metrics } = app.updraft;
  app.route({
    method: ['GET', 'HEAD'],
    url: '/deltas/:digest',
    // Signed URLs carry their own authorisation (tenant, device, digest, expiry under HMAC).
    config: { permission: 'public' },
    schema: signedBlobRouteSchema('Download a delta patch through a signed URL (Range, HEAD)'),
    handler: async (request, reply) => {
      const { digest } = request.params;
      const claims = await verifySignedBlobRequest(
        deltas.urls,
        app.updraft,
        request,
        app.updraft.now().getTime(),
      );
      const size = await deltas.readyPatchSize(claims.tenantId, digest);
      return sendBlob(request, reply, app.updraft.blobs, { digest, size }, (answer) => {
        metrics.downloads.inc({ kind: answer.kind === 'head' ? 'head' : `delta_${answer.kind}` });
        metrics.downloadBytes.inc(answer.length);
        // A body that reached the last byte completes a device's patch download.
        if (answer.kind !== 'head' && answer.toEnd) {
          deltas
            .recordDownload(claims.tenantId, claims.deviceId, digest)
            .catch((error: unknown) =>
              request.log.error({ err: error }, 'could not record a delta delivery'),
            );
        }
      });
    },
  });
};
