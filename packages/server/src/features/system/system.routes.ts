import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { problemOf, sendProblem } from '../../http/problem.js';
import type { SystemService } from './system.service.js';

/** Liveness, readiness, Prometheus metrics and the OpenAPI document. Mounted at the root. */
export const systemRoutes: FastifyPluginAsyncTypebox<{ system: SystemService }> = async (
  app,
  { system },
) => {
  app.get(
    '/healthz',
    {
      config: { permission: 'public' },
      schema: { hide: true, response: { 200: Type.Object({ status: Type.Literal('ok') }) } },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    { config: { permission: 'public' }, schema: { hide: true } },
    async (request, reply) => {
      // Draining before shutdown: out of the balancer at once, without probing anything.
      if (app.updraft.drain.draining) {
        const problem = problemOf(request, 'HTTP_INTERNAL', 503, 'not ready: draining');
        return sendProblem(reply, { ...problem, title: 'Service Unavailable' });
      }
      const readiness = await system.readiness((error) =>
        request.log.warn({ err: error }, 'readiness: database unavailable'),
      );
      if (readiness.ready) return { status: 'ready', checks: readiness.checks };
      const problem = problemOf(
        request,
        'HTTP_INTERNAL',
        503,
        `not ready: ${readiness.failing.join(', ')}`,
      );
      return sendProblem(reply, { ...problem, title: 'Service Unavailable' });
    },
  );

  app.get(
    '/metrics',
    // The counts span every tenant: a token with metrics:read unless the operator opted in.
    {
      config: { permission: app.updraft.config.metrics.public ? 'public' : 'metrics:read' },
      schema: { hide: true },
    },
    async (_request, reply) => {
      const { contentType, body } = await system.exposition();
      return reply.type(contentType).send(body);
    },
  );

  app.get(
    '/api/openapi.json',
    { config: { permission: 'public' }, schema: { hide: true } },
    async () => app.swagger(),
  );
};
