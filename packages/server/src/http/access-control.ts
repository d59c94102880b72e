import type { FastifyInstance, FastifyReply, FastifyRequest, onSendHookHandler } from 'fastify';
import { bearerToken } from '../auth/device-authenticator.js';
import { isPermission, isRouteAccess, type RouteAccess, rolesGrant } from '../auth/permissions.js';
import type { DevicePrincipal, UserPrincipal } from '../auth/principal.js';
import { ServerError } from '../errors.js';
import { resolveToken } from '../features/users/token.repository.js';
import { peerCertificates } from '../tls/peer-certificate.js';
import {
  type CookieParser,
  checkCsrf,
  clearSessionCookie,
  mayCarrySessionCookie,
  sessionCookieToken,
} from './browser-session.js';
import type { VerifiedCaller } from './rate-limit.js';

/** A registered route and the access it declared (read by the RBAC test). */
export interface RouteEntry {
  readonly method: string;
  readonly url: string;
  readonly permission: RouteAccess | undefined;
}

const routeTables = new WeakMap<FastifyInstance, RouteEntry[]>();

/** Every route registered on `app` (HEAD twins excluded), in registration order. */
export function registeredRoutes(app: FastifyInstance): readonly RouteEntry[] {
  return routeTables.get(app) ?? [];
}

// Routes added by third-party plugins we mount (docs UI): public by nature.
const PUBLIC_PREFIXES = ['/api/docs'];

// What a user whose password must change may still do (see AUTH_PASSWORD_CHANGE_REQUIRED).
const PASSWORD_CHANGE_ROUTES = new Set([
  '/api/v1/me',
  '/api/v1/me/password',
  '/api/v1/auth/logout',
]);

/**
 * THE one place where access is checked: an onRequest hook reads the route's
 * `config.permission`, authenticates the caller (user token or device credential) and checks the
 * role table. A route that declares nothing is denied (default-deny).
 */
export function installAccessControl(app: FastifyInstance): void {
  const routes: RouteEntry[] = [];
  routeTables.set(app, routes);

  app.addHook('onRoute', (route) => {
    const config = (route.config ?? {}) as { permission?: unknown };
    if (config.permission === undefined && PUBLIC_PREFIXES.some((p) => route.url.startsWith(p))) {
      route.config = { ...(route.config ?? {}), permission: 'public' };
    }
    const permission = (route.config as { permission?: unknown } | undefined)?.permission;
    if (permission !== undefined && !isRouteAccess(permission)) {
      throw new Error(`route ${route.url}: unknown permission ${String(permission)}`);
    }
    for (const method of [route.method].flat()) {
      if (
        method === 'HEAD' &&
        route.exposeHeadRoute !== true &&
        routes.some((r) => r.url === route.url && r.method === 'GET')
      )
        continue;
      routes.push({ method, url: route.url, permission: permission as RouteAccess | undefined });
    }
  });

  app.decorateRequest('principal', null);
  // Runs as a route-level onRequest hook, after the global one that counts requests without a
  // token by address (rate-limit.ts). A token is counted by its owner only once verified; a
  // failed one counts against the caller's address, and past that budget fails with 429 — but
  // the credential is always checked first, so a valid one is never refused for others' failures.
  const check = async (request: FastifyRequest, reply: FastifyReply) => {
    request.principal = null;
    const { limiter } = app.updraft;
    const permission = request.routeOptions.config.permission;
    if (permission === 'public') {
      await countPublic(app, request);
      return;
    }
    if (permission === undefined) {
      request.log.error(
        { route: request.routeOptions.url },
        'route declares no permission: denied',
      );
      throw new ServerError('AUTH_FORBIDDEN', 'This route is not available.');
    }
    if (permission === 'device') {
      const device = await authenticateDevice(app, request);
      if (!device)
        throw limiter.failed(
          request.ip,
          new ServerError('AUTH_UNAUTHENTICATED', 'A valid device credential is required.'),
        );
      const refused = limiter.verified({ kind: 'device', id: device.deviceId });
      if (refused) throw refused;
      request.principal = device;
      return;
    }
    const user = await authenticateUser(app, request, reply);
    const refused = limiter.verified({ kind: 'user', id: user.tokenId });
    if (refused) throw refused;
    request.principal = user;
    if (user.mustChangePassword && !PASSWORD_CHANGE_ROUTES.has(request.routeOptions.url ?? '')) {
      throw new ServerError(
        'AUTH_PASSWORD_CHANGE_REQUIRED',
        'Change your password first (POST /api/v1/me/password; updraft user password).',
      );
    }
    if (permission === 'authenticated') return;
    if (isPermission(permission) && rolesGrant(user.roles, permission)) return;
    throw new ServerError('AUTH_FORBIDDEN', `Your roles do not grant ${permission}.`);
  };
  // Management answers carry tokens (login, token creation, device tokens) and private data:
  // no cache (browser, proxy) may keep them. A route-level hook on /api/v1 routes only, so the
  // device API's polls and downloads pay nothing for it.
  const noStore: onSendHookHandler = (_request, reply, payload, done) => {
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    done(null, payload);
  };
  app.addHook('onRoute', (route) => {
    const hooks = route.onRequest ? [route.onRequest].flat() : [];
    // HEAD twins of GET routes are built from the GET's (already extended) options: add it once.
    if (!hooks.includes(check)) route.onRequest = [...hooks, check];
    if (route.url.startsWith('/api/v1/')) {
      const sends = route.onSend ? [route.onSend].flat() : [];
      if (!sends.includes(noStore)) route.onSend = [...sends, noStore];
    }
  });
}

/**
 * A public route carrying a bearer token (a device downloading through a signed URL sends its
 * own): counted by the token's owner when it verifies — whatever its address did — else by
 * address, as a failed authentication.
 */
async function countPublic(app: FastifyInstance, request: FastifyRequest): Promise<void> {
  const { limiter } = app.updraft;
  const token = bearerToken(request.headers);
  if (token === undefined) {
    // Counted by address in the global hook, unless it let a (cookie) credential through.
    if (mayCarrySessionCookie(request.headers)) {
      const refused = limiter.anonymous(request.ip);
      if (refused) throw refused;
    }
    return;
  }
  let caller: VerifiedCaller | undefined;
  if (token.startsWith('updraft_device_')) {
    // Only counting here: a token the PKI refuses (tenant forbids bearer) is a failure, no answer.
    const device = await app.updraft.deviceAuth
      .authenticate({ headers: request.headers })
      .catch((error: unknown) => {
        if (error instanceof ServerError && error.status === 401) return null;
        throw error;
      });
    if (device) caller = { kind: 'device', id: device.deviceId };
  } else if (isUserToken(token)) {
    const row = await resolveToken(app.updraft.db, token, app.updraft.now().toISOString());
    if (row) caller = { kind: 'user', id: row.tokenId };
  }
  if (caller === undefined)
    limiter.failed(request.ip, new ServerError('AUTH_UNAUTHENTICATED', 'unknown token'));
  const refused = caller ? limiter.verified(caller) : limiter.anonymous(request.ip);
  if (refused) throw refused;
}

/**
 * The device of a request by its client certificate or bearer token. A credential refused by the
 * PKI (a refused certificate, a forbidden bearer token) counts as a failed authentication.
 */
async function authenticateDevice(
  app: FastifyInstance,
  request: FastifyRequest,
): Promise<DevicePrincipal | null> {
  try {
    return await app.updraft.deviceAuth.authenticate({
      headers: request.headers,
      peerCertificates: peerCertificates(request),
    });
  } catch (error) {
    if (
      error instanceof ServerError &&
      (error.code === 'DEVICE_CERTIFICATE_REFUSED' ||
        error.code === 'DEVICE_BEARER_TOKENS_FORBIDDEN')
    )
      throw app.updraft.limiter.failed(request.ip, error);
    throw error;
  }
}

function isUserToken(token: string): boolean {
  return token.startsWith('updraft_api_') || token.startsWith('updraft_session_');
}

/**
 * The user of a request: by `Authorization: Bearer` when the header is present, else by the
 * browser's session cookie (state-changing cookie requests must pass the CSRF check first).
 */
async function authenticateUser(
  app: FastifyInstance,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<UserPrincipal> {
  const { limiter } = app.updraft;
  const fromHeader = request.headers.authorization !== undefined;
  const token = fromHeader
    ? bearerToken(request.headers)
    : sessionCookieToken(request.headers, cookieParser(app));
  if (!token || !isUserToken(token)) {
    throw limiter.failed(
      request.ip,
      new ServerError(
        'AUTH_UNAUTHENTICATED',
        'A valid bearer token (Authorization: Bearer …) or session cookie is required.',
      ),
    );
  }
  if (!fromHeader) checkCsrf(request);
  const row = await resolveToken(app.updraft.db, token, app.updraft.now().toISOString());
  if (!row) {
    // A stale cookie is dropped, so the browser stops sending it.
    if (!fromHeader) clearSessionCookie(reply, app.updraft.config.tls.enabled);
    throw limiter.failed(
      request.ip,
      new ServerError('AUTH_UNAUTHENTICATED', 'The token is unknown, expired or revoked.'),
    );
  }
  return { kind: 'user', ...row };
}

// @fastify/cookie's parser, decorated on the root instance by build-server.ts.
function cookieParser(app: FastifyInstance): CookieParser {
  return (header) => (app as unknown as { parseCookie: CookieParser }).parseCookie(header);
}

/** The signed-in user of a route that requires a user permission. */
export function userOf(request: FastifyRequest): UserPrincipal {
  if (request.principal?.kind !== 'user')
    throw new ServerError('AUTH_UNAUTHENTICATED', 'A signed-in user is required.');
  return request.principal;
}

/** The device of a route declared `permission: 'device'`. */
export function deviceOf(request: FastifyRequest): DevicePrincipal {
  if (request.principal?.kind !== 'device')
    throw new ServerError('AUTH_UNAUTHENTICATED', 'A device credential is required.');
  return request.principal;
}
