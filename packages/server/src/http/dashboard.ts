import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * Where the built dashboard (`@updraft/web`'s `dist`) is: beside this package, the same relative
 * path from `src/http` (tests, tsx) and `dist/http` (built), in the repository and when installed
 * under `node_modules/@updraft/`.
 */
export const DEFAULT_DASHBOARD_DIR = fileURLToPath(new URL('../../../web/dist', import.meta.url));

/** Sent with every dashboard answer (the API's JSON answers do not render, so need none). */
export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

// Hashed file names never change content: cache for a year. index.html is revalidated each time.
const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

// Paths that are never the dashboard: their unknown URLs keep answering 404 problem+json.
const NOT_DASHBOARD = ['/api', '/.well-known', '/pki', '/healthz', '/readyz', '/metrics'];

const NOT_BUILT_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Updraft</title></head>
<body>
<h1>Updraft</h1>
<p>The dashboard is not built. In the repository, run <code>npm run build</code>, then restart the server.</p>
<p>The API is served under <a href="/api/docs">/api</a> either way.</p>
</body>
</html>
`;

/** The dashboard as mounted: whether it was built, and where from. */
export interface Dashboard {
  readonly dir: string;
  readonly built: boolean;
  /**
   * The SPA fallback, called by the not-found handler: answers index.html (or the not-built
   * page) for a GET that asks for HTML outside the API paths; false when it is not one.
   */
  fallback(request: FastifyRequest, reply: FastifyReply): boolean;
}

/** A reply with @fastify/static's sendFile (structural, so callers need not import it). */
interface FileReply {
  sendFile(file: string, options?: { cacheControl?: boolean }): FastifyReply;
}

function send(reply: FastifyReply, file: string, cacheControl: string): FastifyReply {
  reply.headers({ ...DASHBOARD_HEADERS, 'cache-control': cacheControl });
  // Cache headers are ours (above), not send's `public, max-age=0`.
  return (reply as unknown as FileReply).sendFile(file, { cacheControl: false });
}

function sendNotBuilt(reply: FastifyReply): FastifyReply {
  return reply
    .headers({ ...DASHBOARD_HEADERS, 'cache-control': REVALIDATE })
    .type('text/html; charset=utf-8')
    .send(NOT_BUILT_PAGE);
}

/**
 * Serves the dashboard at `/`: `index.html` (no-cache), hashed `/assets/*` (immutable for a year),
 * the other top-level files of `dir` (no-cache), `.br`/`.gz` siblings when the client accepts
 * them. Without `dir/index.html` (not built), `/` answers a page saying how to build it. Every
 * route is public: the dashboard signs in through the API.
 */
export async function mountDashboard(app: FastifyInstance, dir: string): Promise<Dashboard> {
  const built = existsSync(path.join(dir, 'index.html'));
  // Public (the dashboard signs in through the API); not API routes, so not in the OpenAPI doc.
  const options = { config: { permission: 'public' }, schema: { hide: true } } as const;
  if (!built) {
    app.get('/', options, (_request, reply) => sendNotBuilt(reply));
    return {
      dir,
      built,
      fallback: (request, reply) => wantsPage(request) && !!sendNotBuilt(reply),
    };
  }
  await app.register(fastifyStatic, { root: dir, serve: false, preCompressed: true });
  const index = (_request: FastifyRequest, reply: FastifyReply) =>
    send(reply, 'index.html', REVALIDATE);
  app.get('/', options, index);
  app.get('/index.html', options, index);
  app.get<{ Params: { '*': string } }>('/assets/*', options, (request, reply) =>
    send(reply, `assets/${request.params['*']}`, IMMUTABLE),
  );
  // Unhashed top-level files (favicon, robots.txt): listed once; their content is re-read.
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const name = entry.name;
    if (!entry.isFile() || name === 'index.html' || /\.(br|gz)$/.test(name)) continue;
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) continue;
    app.get(`/${name}`, options, (_request, reply) => send(reply, name, REVALIDATE));
  }
  // index.html vanished after start: its own 404 must not fall back to itself again.
  const fellBack = new WeakSet<FastifyRequest>();
  return {
    dir,
    built,
    fallback(request, reply) {
      if (!wantsPage(request) || fellBack.has(request)) return false;
      fellBack.add(request);
      index(request, reply);
      return true;
    },
  };
}

function wantsPage(request: FastifyRequest): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false;
  const accept = request.headers.accept;
  if (typeof accept !== 'string' || !accept.includes('text/html')) return false;
  const pathname = request.url.split('?')[0] ?? '';
  return !NOT_DASHBOARD.some((p) => pathname === p || pathname.startsWith(`${p}/`));
}
