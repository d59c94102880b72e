import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDACTED_LOG_PATHS } from '../build-server.js';
import { loadConfig } from '../config/config.js';
import { startServer } from '../main.js';
import { describeEachDialect } from '../testing/test-database.js';
import { createTestServer, TEST_ADMIN_PASSWORD, type TestServer } from '../testing/test-server.js';
import { SESSION_COOKIE, sessionCookieToken } from './browser-session.js';

const WEB = { 'x-updraft-client': 'web' };

/** The `name=value` pair of the session cookie in a Set-Cookie answer, and its attributes. */
function sessionSetCookie(header: string | string[] | undefined): string {
  const all = [header ?? []].flat();
  const line = all.find((c) => c.startsWith(`${SESSION_COOKIE}=`));
  if (line === undefined) throw new Error(`no ${SESSION_COOKIE} cookie in ${JSON.stringify(all)}`);
  return line;
}

function cookieValue(line: string): string {
  return line.slice(SESSION_COOKIE.length + 1, line.indexOf(';'));
}

describeEachDialect('browser sessions (cookie, CSRF, logout)', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await createTestServer(dialect, { auth: { sessionTtlSeconds: 3600 } });
  });
  afterAll(() => server?.close());

  const webLogin = async (username = 'admin', password = TEST_ADMIN_PASSWORD) => {
    const res = await server.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: WEB,
      payload: { username, password },
    });
    expect(res.statusCode).toBe(200);
    const line = sessionSetCookie(res.headers['set-cookie']);
    return { res, line, cookie: `${SESSION_COOKIE}=${cookieValue(line)}` };
  };

  it('a web login sets an HttpOnly, SameSite=Strict, Path=/ cookie for the session lifetime and no token in the body', async () => {
    const { res, line } = await webLogin();
    expect(line).toMatch(/; HttpOnly/);
    expect(line).toMatch(/; SameSite=Strict/);
    expect(line).toMatch(/; Path=\//);
    expect(line).toMatch(/; Max-Age=3600(;|$)/);
    expect(line).not.toMatch(/Secure/); // no TLS here
    expect(cookieValue(line)).toMatch(/^updraft_session_/);
    const body = res.json();
    expect(body.token).toBeUndefined();
    expect(res.body).not.toContain(cookieValue(line));
    expect(body.user.username).toBe('admin');
    expect(body.passwordChangeRequired).toBe(false);
    expect(Date.parse(body.expiresAt)).toBeGreaterThan(Date.now() + 3500_000);
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('a login without the header answers the token in the body and sets no cookie (the CLI)', async () => {
    const res = await server.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: 'admin', password: TEST_ADMIN_PASSWORD },
    });
    expect(res.json().token).toMatch(/^updraft_session_/);
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('a cookie-authenticated GET works, with or without the web header', async () => {
    const { cookie } = await webLogin();
    const me = await server.app.inject({ method: 'GET', url: '/api/v1/me', headers: { cookie } });
    expect(me.statusCode).toBe(200);
    expect(me.json().username).toBe('admin');
    const devices = await server.app.inject({
      method: 'GET',
      url: '/api/v1/devices',
      headers: { cookie: `theme=dark; ${cookie}; other=1`, ...WEB },
    });
    expect(devices.statusCode).toBe(200);
  });

  it('refuses an unsafe cookie request without the web header or from a foreign origin, changing nothing', async () => {
    const { cookie } = await webLogin();
    const create = (headers: Record<string, string>, username: string) =>
      server.app.inject({
        method: 'POST',
        url: '/api/v1/users',
        headers: { cookie, ...headers },
        payload: { username, password: 'correct-horse-battery', roles: [] },
      });
    const bare = await create({}, 'csrf-bare');
    expect(bare.statusCode).toBe(403);
    expect(bare.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(bare.json().code).toBe('CSRF_REFUSED');
    const wrongValue = await create({ 'x-updraft-client': 'cli' }, 'csrf-cli');
    expect(wrongValue.json().code).toBe('CSRF_REFUSED');
    const foreign = await create({ ...WEB, origin: 'https://evil.example' }, 'csrf-foreign');
    expect(foreign.statusCode).toBe(403);
    expect(foreign.json().code).toBe('CSRF_REFUSED');
    const nullOrigin = await create({ ...WEB, origin: 'null' }, 'csrf-null');
    expect(nullOrigin.json().code).toBe('CSRF_REFUSED');
    const del = await server.app.inject({
      method: 'DELETE',
      url: '/api/v1/users/whatever',
      headers: { cookie },
    });
    expect(del.json().code).toBe('CSRF_REFUSED');
    const users = await server.app.inject({
      method: 'GET',
      url: '/api/v1/users',
      headers: await server.adminHeaders(),
    });
    const names = (users.json().items as { username: string }[]).map((u) => u.username);
    expect(names.filter((n) => n.startsWith('csrf-'))).toEqual([]);
    // The same request from the dashboard itself (same origin, or no Origin) goes through.
    const host = 'localhost:80';
    const ok = await create({ ...WEB, host, origin: `http://${host}` }, 'csrf-same-origin');
    expect(ok.statusCode).toBe(201);
    const noOrigin = await create(WEB, 'csrf-no-origin');
    expect(noOrigin.statusCode).toBe(201);
  });

  it('a web login from a foreign origin is refused and sets no cookie', async () => {
    const res = await server.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { ...WEB, origin: 'https://evil.example' },
      payload: { username: 'admin', password: TEST_ADMIN_PASSWORD },
    });
    expect(res.json().code).toBe('CSRF_REFUSED');
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('bearer requests are unaffected by the CSRF rule (no web header needed)', async () => {
    const headers = await server.adminHeaders();
    const res = await server.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: { ...headers, origin: 'https://elsewhere.example' },
      payload: { username: 'bearer-made', password: 'correct-horse-battery', roles: [] },
    });
    expect(res.statusCode).toBe(201);
  });

  it('an Authorization header wins over the cookie (a bad bearer is not rescued by a good cookie)', async () => {
    const { cookie } = await webLogin();
    const res = await server.app.inject({
      method: 'GET',
      url: '/api/v1/me',
      headers: { cookie, authorization: 'Bearer updraft_session_notarealtokenatall' },
    });
    expect(res.statusCode).toBe(401);
  });

  it('logout ends the cookie session server-side and clears the cookie', async () => {
    const { cookie } = await webLogin();
    const out = await server.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: { cookie, ...WEB },
    });
    expect(out.statusCode).toBe(200);
    expect(out.json()).toEqual({ sessionEnded: true });
    const cleared = sessionSetCookie(out.headers['set-cookie']);
    expect(cleared).toMatch(/^updraft_session=;/);
    expect(cleared).toMatch(/; Max-Age=0(;|$)/);
    expect(cleared).toMatch(/; HttpOnly/);
    const after = await server.app.inject({
      method: 'GET',
      url: '/api/v1/me',
      headers: { cookie },
    });
    expect(after.statusCode).toBe(401);
    expect(after.json().code).toBe('AUTH_UNAUTHENTICATED');
    // The stale cookie is dropped from the browser too.
    expect(sessionSetCookie(after.headers['set-cookie'])).toMatch(/; Max-Age=0(;|$)/);
    const audit = await server.app.inject({
      method: 'GET',
      url: '/api/v1/audit?action=auth.logout',
      headers: await server.adminHeaders(),
    });
    expect(audit.statusCode).toBe(200);
    expect(audit.json().items.length).toBeGreaterThan(0);
  });

  it('logout without the web header is a CSRF refusal and the session survives', async () => {
    const { cookie } = await webLogin();
    const out = await server.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: { cookie },
    });
    expect(out.json().code).toBe('CSRF_REFUSED');
    const me = await server.app.inject({ method: 'GET', url: '/api/v1/me', headers: { cookie } });
    expect(me.statusCode).toBe(200);
  });

  it('logout with a bearer session token ends that session; an API token is not ended', async () => {
    const login = await server.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: 'admin', password: TEST_ADMIN_PASSWORD },
    });
    const auth = { authorization: `Bearer ${login.json().token}` };
    const out = await server.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: auth,
    });
    expect(out.json()).toEqual({ sessionEnded: true });
    expect(
      (await server.app.inject({ method: 'GET', url: '/api/v1/me', headers: auth })).statusCode,
    ).toBe(401);
    const api = await server.adminHeaders();
    const apiOut = await server.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: api,
    });
    expect(apiOut.json()).toEqual({ sessionEnded: false });
    expect(
      (await server.app.inject({ method: 'GET', url: '/api/v1/me', headers: api })).statusCode,
    ).toBe(200);
  });

  it('a forced password change works with the cookie: me, password change, then the rest; other sessions end', async () => {
    const admin = await server.adminHeaders();
    const created = await server.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: admin,
      payload: {
        username: 'first-timer',
        password: 'temporary-password-1',
        roles: ['support'],
        mustChangePassword: true,
      },
    });
    expect(created.statusCode).toBe(201);
    const other = await webLogin('first-timer', 'temporary-password-1');
    const { res, cookie } = await webLogin('first-timer', 'temporary-password-1');
    expect(res.json().passwordChangeRequired).toBe(true);
    const me = await server.app.inject({ method: 'GET', url: '/api/v1/me', headers: { cookie } });
    expect(me.json().passwordChangeRequired).toBe(true);
    const blocked = await server.app.inject({
      method: 'GET',
      url: '/api/v1/devices',
      headers: { cookie },
    });
    expect(blocked.json().code).toBe('AUTH_PASSWORD_CHANGE_REQUIRED');
    const changed = await server.app.inject({
      method: 'POST',
      url: '/api/v1/me/password',
      headers: { cookie, ...WEB },
      payload: { currentPassword: 'temporary-password-1', newPassword: 'a-new-long-password' },
    });
    expect(changed.statusCode).toBe(200);
    expect(changed.json().sessionsRevoked).toBe(1);
    const devices = await server.app.inject({
      method: 'GET',
      url: '/api/v1/devices',
      headers: { cookie },
    });
    expect(devices.statusCode).toBe(200);
    const otherMe = await server.app.inject({
      method: 'GET',
      url: '/api/v1/me',
      headers: { cookie: other.cookie },
    });
    expect(otherMe.statusCode).toBe(401);
  });

  it('a forced-password-change user can log out with the cookie', async () => {
    const admin = await server.adminHeaders();
    await server.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: admin,
      payload: {
        username: 'leaver',
        password: 'temporary-password-2',
        roles: [],
        mustChangePassword: true,
      },
    });
    const { cookie } = await webLogin('leaver', 'temporary-password-2');
    const out = await server.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: { cookie, ...WEB },
    });
    expect(out.json()).toEqual({ sessionEnded: true });
  });

  it('never writes the cookie value to the logs', async () => {
    const { cookie, line } = await webLogin();
    await server.app.inject({ method: 'GET', url: '/api/v1/me', headers: { cookie } });
    await server.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: { cookie, ...WEB },
    });
    const secret = cookieValue(line);
    expect(server.logs.length).toBeGreaterThan(0);
    expect(server.logs.join('\n')).not.toContain(secret);
  });

  it('garbage Cookie headers never answer 500 (401 on a user route, no crash)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 300 }), async (junk) => {
        const header = junk.replace(/[^\t\x20-\x7e]/g, '');
        for (const cookie of [header, `${SESSION_COOKIE}=${header}`]) {
          const res = await server.app.inject({
            method: 'GET',
            url: '/api/v1/me',
            headers: { cookie },
          });
          expect(res.statusCode).toBe(401);
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe('rate limits with the session cookie', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await createTestServer(
      'sqlite',
      {
        rateLimit: {
          enabled: true,
          perToken: 1_000,
          anonymous: 5,
          failedAuth: 1_000,
          failedLogins: 3,
          windowMs: 60_000,
        },
      },
      // Frozen mid-window: the counts must not straddle a window's turn.
      { now: () => new Date('2026-06-01T12:00:30.000Z') },
    );
  });
  afterAll(() => server?.close());

  it('counts a valid cookie by its owner, not against the address budget', async () => {
    const login = await server.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      remoteAddress: '198.51.100.20',
      headers: WEB,
      payload: { username: 'admin', password: TEST_ADMIN_PASSWORD },
    });
    const line = sessionSetCookie(login.headers['set-cookie']);
    const cookie = `${SESSION_COOKIE}=${cookieValue(line)}`;
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await server.app.inject({
        method: 'GET',
        url: '/api/v1/me',
        remoteAddress: '198.51.100.21',
        headers: { cookie },
      });
      statuses.push(res.statusCode);
    }
    expect(statuses.every((s) => s === 200)).toBe(true);
  });

  it('a junk session cookie does not lift the address budget on public routes', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const res = await server.app.inject({
        method: 'GET',
        url: '/healthz',
        remoteAddress: '198.51.100.22',
        headers: { cookie: `${SESSION_COOKIE}=junk-${i}` },
      });
      statuses.push(res.statusCode);
    }
    expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(statuses.slice(5)).toEqual([429, 429, 429]);
  });
});

describe('browser sessions over TLS (real HTTPS, curl)', () => {
  const run = promisify(execFile);
  it('the cookie is Secure, and the same-origin check accepts the https origin only', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'updraft-cookie-tls-'));
    const server = await startServer(
      loadConfig({
        overrides: {
          dataDir,
          port: 0,
          mqtt: { mode: 'off' },
          auth: { adminPassword: 'cookie-tls-password-0123', sessionTtlSeconds: 900 },
          tls: { enabled: true },
        },
      }),
      {
        handleSignals: false,
        print: () => undefined,
        logStream: new Writable({ write: (_c, _e, cb) => cb() }),
      },
    );
    try {
      const caFile = path.join(dataDir, 'pki', 'ca.pem');
      const curl = async (args: string[]) =>
        (await run('curl', ['-sS', '-i', '--cacert', caFile, ...args], { timeout: 20_000 })).stdout;
      const login = await curl([
        '-X',
        'POST',
        '-H',
        'content-type: application/json',
        '-H',
        'x-updraft-client: web',
        '--data',
        JSON.stringify({ username: 'admin', password: 'cookie-tls-password-0123' }),
        `${server.url}/api/v1/auth/login`,
      ]);
      const line = /^set-cookie: (.*)$/im.exec(login)?.[1]?.trim() ?? '';
      expect(line).toMatch(/^updraft_session=updraft_session_/);
      expect(line).toMatch(/; Secure(;|$)/);
      expect(line).toMatch(/; HttpOnly/);
      expect(line).toMatch(/; SameSite=Strict/);
      expect(line).toMatch(/; Max-Age=900(;|$)/);
      const cookie = line.slice(0, line.indexOf(';'));
      const logout = (origin: string) =>
        curl([
          '-X',
          'POST',
          '-H',
          `cookie: ${cookie}`,
          '-H',
          'x-updraft-client: web',
          '-H',
          `origin: ${origin}`,
          `${server.url}/api/v1/auth/logout`,
        ]);
      const plainOrigin = await logout(server.url.replace('https:', 'http:'));
      expect(plainOrigin).toMatch(/^HTTP\/[\d.]+ 403/);
      expect(plainOrigin).toContain('"CSRF_REFUSED"');
      const sameOrigin = await logout(server.url);
      expect(sameOrigin).toMatch(/^HTTP\/[\d.]+ 200/);
      expect(sameOrigin).toContain('{"sessionEnded":true}');
      expect(await curl(['-H', `cookie: ${cookie}`, `${server.url}/api/v1/me`])).toMatch(
        /^HTTP\/[\d.]+ 401/,
      );
    } finally {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('log redaction of the cookie', () => {
  it('REDACTED_LOG_PATHS hides a request Cookie and a response Set-Cookie wherever pino logs them', () => {
    const lines: string[] = [];
    const logger = pino(
      { redact: { paths: [...REDACTED_LOG_PATHS], censor: '[redacted]' } },
      new Writable({
        write: (chunk, _e, cb) => {
          lines.push(String(chunk));
          cb();
        },
      }),
    );
    const secret = `updraft_session_${'s'.repeat(43)}`;
    logger.info({
      req: { method: 'GET', url: '/api/v1/me', headers: { cookie: `${SESSION_COOKIE}=${secret}` } },
      res: { statusCode: 200, headers: { 'set-cookie': `${SESSION_COOKIE}=${secret}; HttpOnly` } },
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain(secret);
    const entry = JSON.parse(lines[0] ?? '{}');
    expect(entry.req.headers.cookie).toBe('[redacted]');
    expect(entry.res.headers['set-cookie']).toBe('[redacted]');
  });
});

describe('sessionCookieToken', () => {
  const parse = (header: string) =>
    Object.fromEntries(
      header.split(';').map((pair) => {
        const at = pair.indexOf('=');
        return [pair.slice(0, at).trim(), pair.slice(at + 1).trim()];
      }),
    );
  it('reads only session-shaped values of updraft_session', () => {
    const token = `updraft_session_${'a'.repeat(43)}`;
    expect(sessionCookieToken({ cookie: `a=b; ${SESSION_COOKIE}=${token}` }, parse)).toBe(token);
    expect(
      sessionCookieToken({ cookie: `${SESSION_COOKIE}=updraft_api_${'a'.repeat(43)}` }, parse),
    ).toBeUndefined();
    expect(sessionCookieToken({ cookie: `${SESSION_COOKIE}=${token}x'` }, parse)).toBeUndefined();
    expect(sessionCookieToken({}, parse)).toBeUndefined();
  });
  it('never throws, whatever the parser or header', () => {
    const throwing = () => {
      throw new URIError('bad');
    };
    fc.assert(
      fc.property(fc.string({ maxLength: 10_000 }), (header) => {
        expect(() => sessionCookieToken({ cookie: header }, throwing)).not.toThrow();
        expect(() =>
          sessionCookieToken({ cookie: `${SESSION_COOKIE}=${header}` }, parse),
        ).not.toThrow();
      }),
    );
  });
});
