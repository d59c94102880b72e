import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachDialect } from '../testing/test-database.js';
import { createTestServer, type TestServer } from '../testing/test-server.js';
import { installProblemHandlers } from './problem.js';

describe('problem handler', () => {
  it('hides unexpected errors behind a generic 500 and logs them with the request id', async () => {
    const logs: string[] = [];
    const app = Fastify({
      logger: { level: 'error', stream: { write: (l: string) => logs.push(l) } },
    });
    installProblemHandlers(app);
    app.get('/boom', async () => {
      throw new Error('relation "secret_table" does not exist at /srv/app.js:1');
    });
    const res = await app.inject({ method: 'GET', url: '/boom' });
    expect(res.statusCode).toBe(500);
    expect(res.headers['content-type']).toContain('application/problem+json');
    const body = res.json();
    expect(body).toMatchObject({
      status: 500,
      code: 'HTTP_INTERNAL',
      detail: 'The server failed to handle this request.',
    });
    expect(res.body).not.toContain('secret_table');
    expect(res.body).not.toContain('app.js');
    expect(logs.join('')).toContain('secret_table');
    expect(logs.join('')).toContain(body.requestId);
    await app.close();
  });
});

describeEachDialect('HTTP boundary', (dialect) => {
  let server: TestServer;
  let headers: Record<string, string>;
  beforeAll(async () => {
    server = await createTestServer(dialect, { limits: { bodyBytes: 2048 } });
    headers = await server.adminHeaders();
  });
  afterAll(() => server?.close());

  const post = (payload: string, extra: Record<string, string> = {}) =>
    server.app.inject({
      method: 'POST',
      url: '/api/v1/device-classes',
      headers: { ...headers, 'content-type': 'application/json', ...extra },
      payload,
    });

  it('answers malformed JSON with 400 HTTP_MALFORMED_BODY', async () => {
    const res = await post('{"name": ');
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'HTTP_MALFORMED_BODY', status: 400 });
  });

  it('answers wrong types with 400 HTTP_VALIDATION_FAILED naming every field', async () => {
    const res = await post(JSON.stringify({ name: 42, vendorId: 'not-a-uuid', extra: true }));
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body.code).toBe('HTTP_VALIDATION_FAILED');
    const paths = body.errors.map((e: { path: string }) => e.path).join(' ');
    expect(paths).toContain('body/name');
    expect(paths).toContain('body/vendorId');
  });

  it('answers an oversized body with 413 HTTP_BODY_TOO_LARGE', async () => {
    const res = await post(JSON.stringify({ name: 'x'.repeat(5000) }));
    expect(res.statusCode).toBe(413);
    expect(res.json().code).toBe('HTTP_BODY_TOO_LARGE');
  });

  it('answers an unsupported content type with 415', async () => {
    const res = await post('name=x', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(res.statusCode).toBe(415);
    expect(res.json().code).toBe('HTTP_UNSUPPORTED_MEDIA_TYPE');
  });

  it('changes nothing on bad input', async () => {
    await post('{"name": ');
    await post(JSON.stringify({ name: 42 }));
    const list = await server.app.inject({ method: 'GET', url: '/api/v1/device-classes', headers });
    expect(list.json().items).toEqual([]);
  });

  it('never logs bearer tokens or passwords', async () => {
    await server.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: 'admin', password: 'wrong-password-123' },
    });
    server.app.log.info(
      {
        req: { headers: { authorization: headers.authorization } },
        user: { password: 'p4ssw0rd-secret', token: 'tok-secret' },
      },
      'probe',
    );
    const logs = server.logs.join('');
    expect(logs).toContain('probe');
    expect(logs).not.toContain(headers.authorization?.slice(7));
    expect(logs).not.toContain('wrong-password-123');
    expect(logs).not.toContain('p4ssw0rd-secret');
    expect(logs).not.toContain('tok-secret');
  });
});
