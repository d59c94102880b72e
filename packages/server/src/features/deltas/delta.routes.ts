import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ServerError } from '../../errors.js';
import { userOf } from '../../http/access-control.js';
import { audited } from '../../http/audit-hook.js';
import {
  signedBlobRouteSchema,
  verifySignedBlobRequest,
} from '../../signed-url/signed-blob-route.js';
import { sendBlob } from '../device-api/send-blob.js';
import '../releases/release.table.js';
import {
  deltasForTargets,
  findReadyPatch,
  getDeltaBases,
  payloadDigestsOf,
  releaseDeltaSavings,
  setDeltaBases,
} from './delta.repository.js';
import type { DeltaService } from './delta-service.js';

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
  const { db } = app.updraft;

  const view = async (tenantId: string, releaseId: string) => {
    const release = await db
      .selectFrom('releases')
      .select('id')
      .where('tenant_id', '=', tenantId)
      .where('id', '=', releaseId)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    if (release === undefined)
      throw new ServerError('RESOURCE_NOT_FOUND', `release ${releaseId} not found`);
    const bases = await getDeltaBases(db, tenantId, releaseId);
    const targets = (await payloadDigestsOf(db, tenantId, [releaseId])).map((p) => p.sha256);
    return {
      releaseId,
      anyInstalled: bases?.anyInstalled ?? false,
      baseReleaseIds: bases?.baseReleaseIds ?? [],
      patches: await deltasForTargets(db, tenantId, targets),
      ...(await releaseDeltaSavings(db, tenantId, releaseId)),
    };
  };

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
    async (request) => {
      const { tenantId } = userOf(request);
      const releaseId = request.params.id;
      const { bases, anyInstalled, eager } = request.body;
      await audited(request, 'release.delta-bases', 'release', async (trx) => {
        const release = await trx
          .selectFrom('releases')
          .select(['id', 'device_class_id'])
          .where('tenant_id', '=', tenantId)
          .where('id', '=', releaseId)
          .where('deleted_at', 'is', null)
          .executeTakeFirst();
        if (release === undefined)
          throw new ServerError('RESOURCE_NOT_FOUND', `release ${releaseId} not found`);
        const ids = new Set<string>();
        const unknown: string[] = [];
        for (const name of bases) {
          const rows = await trx
            .selectFrom('releases')
            .select('id')
            .where('tenant_id', '=', tenantId)
            .where('device_class_id', '=', release.device_class_id)
            .where('deleted_at', 'is', null)
            .where('id', '!=', releaseId)
            .where((eb) => eb.or([eb('id', '=', name), eb('version', '=', name)]))
            .execute();
          if (rows.length === 0) unknown.push(name);
          for (const r of rows) ids.add(r.id);
        }
        if (unknown.length > 0) {
          throw new ServerError(
            'RESOURCE_INVALID',
            'every base must be another live release of the same device class (id or version)',
            { details: { unknown } },
          );
        }
        const baseReleaseIds = [...ids].sort();
        await setDeltaBases(
          trx,
          tenantId,
          releaseId,
          { anyInstalled, baseReleaseIds },
          app.updraft.now().toISOString(),
        );
        return {
          result: undefined,
          resourceId: releaseId,
          change: { anyInstalled, baseReleaseIds },
        };
      });
      if (eager ?? true) await deltas.requestNamedBases(tenantId, releaseId);
      return view(tenantId, releaseId);
    },
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
    async (request) => view(userOf(request).tenantId, request.params.id),
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
      const patch = await findReadyPatch(app.updraft.db, claims.tenantId, digest);
      if (patch === undefined || patch.patchSize === null)
        throw new ServerError('RESOURCE_NOT_FOUND', 'no such patch');
      const size = patch.patchSize;
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
