import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FeedbackAnswer } from '@updraft/core';
import { Type } from 'typebox';
import type { DevicePrincipal } from '../../auth/principal.js';
import { ServerError } from '../../errors.js';
import {
  signedBlobRouteSchema,
  verifySignedBlobRequest,
} from '../../signed-url/signed-blob-route.js';
import type { SignedUrl } from '../../signed-url/signed-url.js';
import type { ActionService } from '../actions/action.service.js';
import type { DeltaService } from '../deltas/delta.service.js';
import { findServablePayload } from '../releases/release.repository.js';
import type { CheckInService } from './check-in.service.js';
import { ActionId, CheckInBody, FeedbackBody } from './device-api.schemas.js';
import { sendBlob } from './send-blob.js';

/** Services the device API runs on. */
export interface DeviceApiOptions {
  readonly checkIns: CheckInService;
  readonly actions: ActionService;
  readonly urls: SignedUrl;
  /** Counts the delta patches a device reports it applied (direct downloads). */
  readonly deltas?: Pick<DeltaService, 'recordReported'>;
}

/**
 * The native device API (docs/device-api.md): check-in with ETag/304, the action's envelope,
 * payload download through signed URLs with Range and HEAD, feedback through the state machine.
 */
export const deviceApiRoutes: FastifyPluginAsyncTypebox<DeviceApiOptions> = async (
  app,
  { checkIns, actions, urls, deltas },
) => {
  const { metrics } = app.updraft;
  // Bound once: prom-client hashes a label set on every inc() otherwise.
  const checkInsBy = {
    not_modified: metrics.checkIns.labels({ outcome: 'not_modified' }),
    idle: metrics.checkIns.labels({ outcome: 'idle' }),
    action: metrics.checkIns.labels({ outcome: 'action' }),
  };
  // JSON bodies are kept raw too: a device repeating its last report byte for byte is recognised
  // without canonicalising and hashing it again (see CheckInService).
  const rawBodies = new WeakMap<object, string>();
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    rawBodies.set(request, body as string);
    parseJson(request, body as string, done);
  });

  app.post(
    '/check-in',
    {
      config: { permission: 'device' },
      schema: {
        summary: 'Report installed components and attributes; get the open action',
        tags: ['device'],
        body: CheckInBody,
      },
    },
    async (request, reply) => {
      const device = request.principal as DevicePrincipal;
      const ifNoneMatch = request.headers['if-none-match'];
      const answer = await checkIns.checkIn(
        device,
        request.body,
        typeof ifNoneMatch === 'string' ? ifNoneMatch : undefined,
        rawBodies.get(request),
      );
      reply.header('etag', answer.etag).header('cache-control', 'no-cache');
      if (answer.status === 304) {
        checkInsBy.not_modified.inc();
        return reply.code(304).send();
      }
      checkInsBy[answer.body.action === null ? 'idle' : 'action'].inc();
      return answer.body;
    },
  );

  app.get(
    '/actions/:id/envelope',
    {
      config: { permission: 'device' },
      schema: {
        summary: "The action's signed SUIT envelope",
        tags: ['device'],
        params: Type.Object({ id: ActionId }),
      },
    },
    async (request, reply) => {
      const device = request.principal as DevicePrincipal;
      const bytes = await checkIns.envelope(device, request.params.id);
      return reply.type('application/suit-envelope+cose').send(bytes);
    },
  );

  app.post(
    '/actions/:id/feedback',
    {
      config: { permission: 'device' },
      schema: {
        summary: 'Report progress or a result; replays of a reportId change nothing',
        tags: ['device'],
        params: Type.Object({ id: ActionId }),
        body: FeedbackBody,
      },
    },
    async (request) => {
      const device = request.principal as DevicePrincipal;
      const b = request.body;
      const { action, replayed } = await actions.report(device, request.params.id, {
        reportId: b.reportId,
        status: b.status,
        progress: b.progress ?? null,
        code: b.code ?? null,
        message: b.message ?? null,
      });
      // Deltas are a statistic: a failure to count one is logged, never the device's problem.
      if (b.deltas !== undefined && b.deltas.length > 0)
        await deltas
          ?.recordReported(device.tenantId, device.deviceId, action.id, b.deltas)
          .catch((error: unknown) =>
            request.log.error({ err: error }, 'could not record reported delta deliveries'),
          );
      const answer: FeedbackAnswer = {
        id: action.id,
        state: action.state,
        cancelRequested: action.cancelRequested,
        replayed,
      };
      return answer;
    },
  );

  app.route({
    method: ['GET', 'HEAD'],
    url: '/artifacts/:digest',
    // Signed URLs carry their own authorisation (tenant, device, digest, expiry under HMAC).
    config: { permission: 'public' },
    schema: signedBlobRouteSchema('Download a payload through a signed URL (Range, HEAD)'),
    handler: async (request, reply) => {
      const { digest } = request.params as { digest: string };
      const claims = await verifySignedBlobRequest(
        urls,
        app.updraft,
        request,
        app.updraft.now().getTime(),
      );
      const payload = await findServablePayload(app.updraft.db, claims.tenantId, digest);
      if (payload === undefined) throw new ServerError('RESOURCE_NOT_FOUND', 'no such artifact');
      // Counted once the whole response went out (an aborted download counts no bytes).
      return sendBlob(request, reply, app.updraft.blobs, { digest, size: payload.size }, (sent) => {
        metrics.downloads.inc({ kind: sent.kind });
        metrics.downloadBytes.inc(sent.length);
      });
    },
  });
};
