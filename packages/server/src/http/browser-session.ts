import type { FastifyReply, FastifyRequest } from 'fastify';
import { ServerError } from '../errors.js';

/** The cookie that carries a browser's login session token (HttpOnly: no script reads it). */
export const SESSION_COOKIE = 'updraft_session';

/**
 * The header the dashboard sends on every request. A cross-site form or "simple" request cannot
 * set a custom header (it needs a CORS preflight we never grant): with SameSite=Strict this is
 * the CSRF defence. On login it asks for the session as a cookie instead of in the body.
 */
export const WEB_CLIENT_HEADER = 'x-updraft-client';
export const WEB_CLIENT = 'web';

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
// A session token as minted by newToken('session'); anything else in the cookie is ignored.
const SESSION_TOKEN = /^updraft_session_[A-Za-z0-9_-]{16,128}$/;
// Bounds what is parsed: a Cookie header past this is not ours to read (Node caps headers anyway).
const MAX_COOKIE_HEADER = 8192;

type Headers = FastifyRequest['headers'];

/** The request says it comes from the dashboard (`x-updraft-client: web`). */
export function isWebClient(headers: Headers): boolean {
  return headers[WEB_CLIENT_HEADER] === WEB_CLIENT;
}

/** Cheap pre-check (no parsing) for the per-address rate limit: a session cookie may be present. */
export function mayCarrySessionCookie(headers: Headers): boolean {
  const cookie = headers.cookie;
  return typeof cookie === 'string' && cookie.includes(`${SESSION_COOKIE}=`);
}

/** A structural view of the one method of @fastify/cookie used here. */
export type CookieParser = (header: string) => Record<string, string | undefined>;

/**
 * The session token in the request's `updraft_session` cookie, or `undefined` when there is none
 * or it is not shaped like a session token. Never throws: garbage cookies are no cookie.
 */
export function sessionCookieToken(headers: Headers, parse: CookieParser): string | undefined {
  const header = headers.cookie;
  if (typeof header !== 'string' || header.length > MAX_COOKIE_HEADER) return undefined;
  if (!header.includes(`${SESSION_COOKIE}=`)) return undefined;
  let value: string | undefined;
  try {
    value = parse(header)[SESSION_COOKIE];
  } catch {
    return undefined;
  }
  return typeof value === 'string' && SESSION_TOKEN.test(value) ? value : undefined;
}

/**
 * Refuses a state-changing request authenticated by the cookie unless it carries
 * `x-updraft-client: web` and, when the browser sent an `Origin`, that origin is the server's own.
 */
export function checkCsrf(request: FastifyRequest): void {
  if (!UNSAFE_METHODS.has(request.method)) return;
  if (!isWebClient(request.headers))
    throw new ServerError(
      'CSRF_REFUSED',
      `A request authenticated by the session cookie must send ${WEB_CLIENT_HEADER}: ${WEB_CLIENT}.`,
    );
  checkOrigin(request);
}

/** When an `Origin` header is present it must be this server's own origin. */
export function checkOrigin(request: FastifyRequest): void {
  const origin = request.headers.origin;
  if (origin === undefined) return;
  if (origin !== ownOrigin(request))
    throw new ServerError('CSRF_REFUSED', 'The request comes from another origin.');
}

// protocol and host honour X-Forwarded-* only from trusted proxies (trustProxy).
function ownOrigin(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}

/** Cookie attributes: Secure only when the port speaks TLS (a plain-HTTP browser drops it). */
function attributes(secure: boolean) {
  return { httpOnly: true, sameSite: 'strict', path: '/', secure } as const;
}

/** A reply with @fastify/cookie's setCookie (structural, so callers need not import it). */
interface CookieReply {
  setCookie(name: string, value: string, options: Record<string, unknown>): unknown;
}

/** Sets the session cookie for `maxAgeSeconds` (the session's lifetime). */
export function setSessionCookie(
  reply: FastifyReply,
  token: string,
  maxAgeSeconds: number,
  secure: boolean,
): void {
  (reply as unknown as CookieReply).setCookie(SESSION_COOKIE, token, {
    ...attributes(secure),
    maxAge: maxAgeSeconds,
  });
}

/** Tells the browser to drop the session cookie (`Max-Age=0`). */
export function clearSessionCookie(reply: FastifyReply, secure: boolean): void {
  (reply as unknown as CookieReply).setCookie(SESSION_COOKIE, '', {
    ...attributes(secure),
    maxAge: 0,
    expires: new Date(0),
  });
}
