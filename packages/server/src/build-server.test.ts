import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachDialect } from './testing/test-database.js';
import { createTestServer, type TestServer } from './testing/test-server.js';

describeEachDialect('buildServer', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await createTestServer(dialect);
  });
  afterAll(() => server?.close());

  it('answers /healthz and /readyz', async () => {
    expect((await server.app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({
      status: 'ok',
    });
    const ready = await server.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', checks: { database: true, blobs: true } });
  });

  it('exposes Prometheus metrics including request counts', async () => {
    await server.app.inject({ method: 'GET', url: '/healthz' });
    const res = await server.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatch(
      /updraft_http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+/,
    );
    expect(res.body).toContain('updraft_device_checkins_total');
    expect(res.body).toContain('updraft_download_bytes_total');
  });

  it('serves an OpenAPI 3 document and a browsable docs page', async () => {
    const doc = (await server.app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/devices',
        '/api/v1/device-classes/{id}/keys',
        '/api/v1/audit',
      ]),
    );
    expect(
      doc.paths['/api/v1/devices'].post.requestBody.content['application/json'].schema.properties
        .name,
    ).toBeDefined();
    expect(doc.info.title).toContain('Updraft');
    const page = await server.app.inject({ method: 'GET', url: '/api/docs/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
  });

  it('answers an unknown route with problem+json and echoes the request id', async () => {
    const res = await server.app.inject({
      method: 'GET',
      url: '/nope',
      headers: { 'x-request-id': 'req-123' },
    });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.headers['x-request-id']).toBe('req-123');
    expect(res.json()).toMatchObject({
      status: 404,
      code: 'HTTP_ROUTE_NOT_FOUND',
      requestId: 'req-123',
      type: 'urn:updraft:error:HTTP_ROUTE_NOT_FOUND',
    });
  });

  it('replaces an unsafe request id with a generated one', async () => {
    const res = await server.app.inject({
      method: 'GET',
      url: '/nope',
      headers: { 'x-request-id': 'bad id <script>' },
    });
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('creates the first admin once and announces it', async () => {
    expect(server.printed.filter((l) => l.includes('created admin account'))).toHaveLength(1);
    expect(server.printed.join('\n')).not.toContain('test-admin-password');
  });
});

describe('readiness', () => {
  it('answers 503 problem+json naming the part that is not ready', async () => {
    const { FsBlobStore } = await import('./adapters/fs/fs-blob-store.js');
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { randomBytes } = await import('node:crypto');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-ready-'));
    const blobs = new FsBlobStore({ dir, masterKey: randomBytes(32) });
    // The blob directory is removed under the running server: not ready.
    const server = await createTestServer('sqlite', {}, { blobs });
    try {
      expect((await server.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
      await rm(dir, { recursive: true, force: true });
      const res = await server.app.inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ status: 503, detail: 'not ready: blobs' });
    } finally {
      await server.close();
    }
  });
});
