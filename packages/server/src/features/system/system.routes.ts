import { sql } from 'kysely';
import { Type } from 'typebox';
import type { UpdraftFeature } from '../../http/app-types.js';
import { problemOf, sendProblem } from '../../http/problem.js';

/** Liveness, readiness, Prometheus metrics and the OpenAPI document. Mounted at the root. */
export const systemRoutes: UpdraftFeature = async (app) => {
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
      const checks: Record<string, boolean> = { database: false, blobs: false };
      try {
        await sql`select 1`.execute(app.updraft.db);
        checks.database = true;
      } catch (error) {
        request.log.warn({ err: error }, 'readiness: database unavailable');
      }
      checks.blobs = await app.updraft.blobs.ready().catch(() => false);
      if (Object.values(checks).every(Boolean)) return { status: 'ready', checks };
      const problem = problemOf(
        request,
        'HTTP_INTERNAL',
        503,
        `not ready: ${Object.keys(checks)
          .filter((k) => !checks[k])
          .join(', ')}`,
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
      const registry = app.updraft.metrics.registry;
      return reply.type(registry.contentType).send(await registry.metrics());
    },
  );

  app.get(
    '/api/openapi.json',
    { config: { permission: 'public' }, schema: { hide: true } },
    async () => app.swagger(),
  );
};
