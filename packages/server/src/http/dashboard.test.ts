import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { brotliCompressSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/config.js';
import { startServer } from '../main.js';
import { createTestServer, type TestServer } from '../testing/test-server.js';
import { DASHBOARD_HEADERS, DEFAULT_DASHBOARD_DIR } from './dashboard.js';

const INDEX = '<!doctype html><title>dash</title><div id="root"></div>';
const SCRIPT = `console.log(${JSON.stringify('x'.repeat(2000))});`;
const HTML = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

const SECRET = 'TOP-SECRET-CONTENT-41f7';

/**
 * A stand-in for packages/web/dist: index.html, a hashed asset (+ .br), a favicon; beside it (in
 * the parent directory, removed with {@link removeDist}) a file that must never be served.
 */
async function fakeDist(): Promise<string> {
  const parent = await mkdtemp(path.join(os.tmpdir(), 'updraft-dist-'));
  await writeFile(path.join(parent, 'secret.txt'), SECRET);
  const dir = path.join(parent, 'dist');
  await mkdir(path.join(dir, 'assets'), { recursive: true });
  await writeFile(path.join(dir, 'index.html'), INDEX);
  await writeFile(path.join(dir, 'assets', 'index-3f9a1c.js'), SCRIPT);
  await writeFile(path.join(dir, 'assets', 'index-3f9a1c.js.br'), brotliCompressSync(SCRIPT));
  await writeFile(path.join(dir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  return dir;
}

const removeDist = (dist: string) => rm(path.dirname(dist), { recursive: true, force: true });

function expectSecurityHeaders(headers: Record<string, unknown>) {
  for (const [name, value] of Object.entries(DASHBOARD_HEADERS)) expect(headers[name]).toBe(value);
}

describe('the dashboard, built', () => {
  let server: TestServer;
  let dist: string;
  beforeAll(async () => {
    dist = await fakeDist();
    server = await createTestServer('sqlite', {}, { dashboardDir: dist });
  });
  afterAll(async () => {
    await server?.close();
    await removeDist(dist);
  });
  const get = (url: string, headers: Record<string, string> = {}) =>
    server.app.inject({ method: 'GET', url, headers });

  it('resolves the default directory to packages/web/dist', () => {
    expect(DEFAULT_DASHBOARD_DIR).toBe(path.resolve(import.meta.dirname, '../../../web/dist'));
  });

  it('answers index.html at / with no-cache and the security headers', async () => {
    const res = await get('/', { accept: HTML });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe(INDEX);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.headers['content-security-policy']).toBe(
      "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
    );
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(server.app.dashboard.built).toBe(true);
  });

  it('serves hashed assets as immutable for a year, precompressed when accepted', async () => {
    const plain = await get('/assets/index-3f9a1c.js');
    expect(plain.statusCode).toBe(200);
    expect(plain.body).toBe(SCRIPT);
    expect(plain.headers['content-type']).toMatch(/javascript/);
    expect(plain.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(plain.headers['content-encoding']).toBeUndefined();
    expectSecurityHeaders(plain.headers);
    const br = await get('/assets/index-3f9a1c.js', { 'accept-encoding': 'gzip, br' });
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.rawPayload.length).toBeLessThan(SCRIPT.length / 10);
    expect(br.headers['content-type']).toMatch(/javascript/);
    expect(br.headers['cache-control']).toBe('public, max-age=31536000, immutable');
  });

  it('serves other top-level files with no-cache', async () => {
    const res = await get('/favicon.svg');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^image\/svg\+xml/);
    expect(res.headers['cache-control']).toBe('no-cache');
  });

  it('answers index.html for deep links that accept HTML', async () => {
    for (const url of ['/devices/123', '/releases?page=2', '/campaigns/c1/actions']) {
      const res = await get(url, { accept: HTML });
      expect(res.statusCode, url).toBe(200);
      expect(res.body, url).toBe(INDEX);
      expect(res.headers['cache-control'], url).toBe('no-cache');
      expectSecurityHeaders(res.headers);
    }
  });

  it('keeps 404 problem+json for the API paths, non-HTML requests, other methods and missing assets', async () => {
    const cases: [string, string, Record<string, string>][] = [
      ['GET', '/api/v1/nothing-here', { accept: HTML }],
      ['GET', '/api', { accept: HTML }],
      ['GET', '/.well-known/nothing', { accept: HTML }],
      ['GET', '/pki/nothing', { accept: HTML }],
      ['GET', '/healthz/deep', { accept: HTML }],
      ['GET', '/readyz/deep', { accept: HTML }],
      ['GET', '/metrics/deep', { accept: HTML }],
      ['GET', '/devices/123', { accept: 'application/json' }],
      ['GET', '/devices/123', {}],
      ['POST', '/devices/123', { accept: HTML }],
      ['GET', '/assets/missing-000000.js', { accept: '*/*' }],
    ];
    for (const [method, url, headers] of cases) {
      const res = await server.app.inject({ method: method as 'GET', url, headers });
      expect(res.statusCode, `${method} ${url}`).toBe(404);
      expect(res.headers['content-type'], url).toMatch(/^application\/problem\+json/);
      expect(res.json().code, url).toBe('HTTP_ROUTE_NOT_FOUND');
    }
  });

  it('serves nothing outside the directory', async () => {
    for (const url of [
      '/assets/../secret.txt',
      '/assets/..%2fsecret.txt',
      '/assets/%2e%2e/secret.txt',
      '/assets/..%5csecret.txt',
      '/assets//etc/passwd',
      '/secret.txt',
    ]) {
      const res = await get(url, { accept: '*/*' });
      expect(res.statusCode, url).toBeGreaterThanOrEqual(400);
      expect(res.body, url).not.toContain(SECRET);
      expect(res.body, url).not.toContain('root:');
    }
  });

  it('keeps the dashboard routes out of the OpenAPI document, which names the session cookie', async () => {
    const doc = (await get('/api/openapi.json')).json();
    const paths = Object.keys(doc.paths);
    expect(paths).toContain('/api/v1/auth/logout');
    for (const ui of ['/', '/index.html', '/assets/{*}', '/assets/*', '/favicon.svg'])
      expect(paths, ui).not.toContain(ui);
    expect(doc.components.securitySchemes.session).toMatchObject({
      type: 'apiKey',
      in: 'cookie',
      name: 'updraft_session',
    });
  });

  it('leaves the API answers as they were (JSON, no-store, no dashboard headers needed)', async () => {
    const res = await get('/api/v1/me', { accept: HTML });
    expect(res.statusCode).toBe(401);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const health = await get('/healthz', { accept: HTML });
    expect(health.statusCode).toBe(200);
    expect(health.json()).toMatchObject({ status: 'ok' });
  });
});

describe('the dashboard, not built', () => {
  let server: TestServer;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-nodist-'));
    server = await createTestServer('sqlite', {}, { dashboardDir: path.join(dir, 'dist') });
  });
  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers / with a page saying how to build it, with the security headers', async () => {
    const res = await server.app.inject({ method: 'GET', url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.body).toContain('npm run build');
    expect(res.headers['cache-control']).toBe('no-cache');
    expectSecurityHeaders(res.headers);
    expect(server.app.dashboard.built).toBe(false);
  });

  it('answers the same page for deep links and keeps 404 problem+json for assets and the API', async () => {
    const deep = await server.app.inject({
      method: 'GET',
      url: '/devices/1',
      headers: { accept: HTML },
    });
    expect(deep.body).toContain('npm run build');
    for (const url of ['/assets/index-3f9a1c.js', '/api/v1/nothing']) {
      const res = await server.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.json().code, url).toBe('HTTP_ROUTE_NOT_FOUND');
    }
  });
});

describe('startup output', () => {
  const start = async (dashboardDir: string) => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'updraft-main-dash-'));
    const printed: string[] = [];
    const server = await startServer(
      loadConfig({
        overrides: {
          dataDir,
          port: 0,
          mqtt: { mode: 'off' },
          auth: { adminPassword: 'dash-test-password' },
        },
      }),
      {
        handleSignals: false,
        dashboardDir,
        print: (line) => printed.push(line),
        logStream: new Writable({ write: (_c, _e, cb) => cb() }),
      },
    );
    return { server, printed, dataDir };
  };

  it('prints the dashboard URL when the UI is built, and not otherwise', async () => {
    const dist = await fakeDist();
    const built = await start(dist);
    try {
      expect(built.printed).toContain(`  Dashboard: ${built.server.url}/`);
      const res = await fetch(`${built.server.url}/devices/9`, { headers: { accept: HTML } });
      expect(await res.text()).toBe(INDEX);
    } finally {
      await built.server.close();
      await rm(built.dataDir, { recursive: true, force: true });
    }
    const bare = await start(path.join(dist, 'no-such-dir'));
    try {
      expect(bare.printed.join('\n')).not.toContain('Dashboard:');
    } finally {
      await bare.server.close();
      await rm(bare.dataDir, { recursive: true, force: true });
      await removeDist(dist);
    }
  });
});
