import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HttpTransport } from './http-transport.js';

type Route = (req: IncomingMessage, res: ServerResponse) => void;
let route: Route;
let server: Server;
let other: Server;
let base: string;
let otherBase: string;
const seen: { url: string; headers: IncomingMessage['headers'] }[] = [];

async function listen(s: Server): Promise<string> {
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

beforeEach(async () => {
  seen.length = 0;
  const record: Route = (req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    route(req, res);
  };
  server = createServer(record);
  other = createServer(record);
  base = await listen(server);
  otherBase = await listen(other);
});
afterEach(async () => {
  server.closeAllConnections();
  other.closeAllConnections();
  await new Promise((r) => server.close(r));
  await new Promise((r) => other.close(r));
});

const transport = () => new HttpTransport({ baseUrl: base, token: 'secret-token' });
const request = { components: [], attributes: {} };

describe('HttpTransport', () => {
  it('sends If-None-Match and reads a 304 as "nothing changed"', async () => {
    route = (req, res) => {
      if (req.headers['if-none-match'] === '"v1"') return void res.writeHead(304).end();
      res.writeHead(200, { etag: '"v1"', 'content-type': 'application/json' });
      res.end(JSON.stringify({ pollIntervalSeconds: 30, action: null }));
    };
    const first = await transport().checkIn(request, null);
    expect(first).toEqual({
      status: 200,
      etag: '"v1"',
      body: { pollIntervalSeconds: 30, action: null },
    });
    expect(await transport().checkIn(request, '"v1"')).toEqual({ status: 304 });
    expect(seen[0]?.headers.authorization).toBe('Bearer secret-token');
  });

  it('keeps the problem+json code of an error answer', async () => {
    route = (_req, res) => {
      res.writeHead(503, { 'content-type': 'application/problem+json' });
      res.end(JSON.stringify({ code: 'SERVER_BUSY', status: 503 }));
    };
    await expect(transport().fetchEnvelope('/x', 1000)).rejects.toMatchObject({
      code: 'AGENT_SERVER_ERROR',
      details: { status: 503, code: 'SERVER_BUSY' },
    });
  });

  it('passes on the Retry-After of a 429 or 503 (seconds, bounded), and ignores a malformed one', async () => {
    let header = '120';
    route = (_req, res) => {
      res.writeHead(429, { 'retry-after': header, 'content-type': 'application/problem+json' });
      res.end(JSON.stringify({ code: 'HTTP_RATE_LIMITED', status: 429 }));
    };
    const details = async () => {
      const error = await transport()
        .checkIn(request, null)
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'AGENT_SERVER_ERROR' });
      return (error as { details?: Record<string, unknown> }).details;
    };
    expect(await details()).toEqual({
      status: 429,
      code: 'HTTP_RATE_LIMITED',
      retryAfterSeconds: 120,
    });
    header = '999999999';
    expect((await details())?.retryAfterSeconds).toBe(24 * 3600);
    header = 'soon';
    expect(await details()).toEqual({ status: 429, code: 'HTTP_RATE_LIMITED' });
  });

  it('reports refused credentials (401, 403) as AGENT_AUTH_REJECTED, not as a server error', async () => {
    for (const status of [401, 403]) {
      route = (_req, res) => {
        res.writeHead(status, { 'content-type': 'application/problem+json' });
        res.end(JSON.stringify({ code: 'AUTH_TOKEN_INVALID', status }));
      };
      await expect(transport().checkIn(request, null)).rejects.toMatchObject({
        code: 'AGENT_AUTH_REJECTED',
        details: { status, code: 'AUTH_TOKEN_INVALID' },
      });
    }
  });

  it('refuses a check-in answer of the wrong shape, and an over-long one', async () => {
    route = (_req, res) => res.end(JSON.stringify({ pollIntervalSeconds: 'soon', action: null }));
    await expect(transport().checkIn(request, null)).rejects.toMatchObject({
      code: 'AGENT_RESPONSE_INVALID',
    });
    route = (_req, res) => res.end(Buffer.alloc(2 * 1024 * 1024, 0x20));
    await expect(transport().checkIn(request, null)).rejects.toMatchObject({
      code: 'AGENT_RESPONSE_INVALID',
    });
  });

  it('bounds the envelope size', async () => {
    route = (_req, res) => res.end(Buffer.alloc(5000));
    await expect(transport().fetchEnvelope('/e', 4096)).rejects.toMatchObject({
      code: 'AGENT_ENVELOPE_TOO_LARGE',
    });
  });

  it('asks for a range and reads the partial answer', async () => {
    route = (req, res) => {
      expect(req.headers.range).toBe('bytes=4-');
      res.writeHead(206, { 'content-range': 'bytes 4-9/10' });
      res.end(Buffer.from('456789'));
    };
    const r = await transport().openPayload('/p', 4, new AbortController().signal);
    const chunks: Uint8Array[] = [];
    for await (const c of r.body) chunks.push(c);
    expect(r).toMatchObject({ start: 4, totalSize: 10 });
    expect(Buffer.concat(chunks).toString()).toBe('456789');
  });

  it('refuses a partial answer for another offset', async () => {
    route = (_req, res) => {
      res.writeHead(206, { 'content-range': 'bytes 0-9/10' });
      res.end(Buffer.alloc(10));
    };
    await expect(
      transport().openPayload('/p', 4, new AbortController().signal),
    ).rejects.toMatchObject({ code: 'AGENT_RESPONSE_INVALID' });
  });

  it('never sends the device token to another origin (signed URLs)', async () => {
    route = (_req, res) => res.end('abc');
    const r = await transport().openPayload(`${otherBase}/cdn/fw`, 0, new AbortController().signal);
    for await (const _ of r.body) {
      // drain
    }
    expect(seen[0]?.headers.authorization).toBeUndefined();
  });

  it('reports a dead service as AGENT_SERVER_UNREACHABLE and a dropped body as AGENT_NETWORK_ERROR', async () => {
    const dead = new HttpTransport({ baseUrl: 'http://127.0.0.1:1', token: 't' });
    await expect(dead.checkIn(request, null)).rejects.toMatchObject({
      code: 'AGENT_SERVER_UNREACHABLE',
    });
    route = (_req, res) => {
      res.writeHead(200, { 'content-length': '100000' });
      res.write(Buffer.alloc(1000));
      setTimeout(() => res.destroy(), 20);
    };
    const r = await transport().openPayload('/p', 0, new AbortController().signal);
    await expect(
      (async () => {
        for await (const _ of r.body) {
          // drain until the connection drops
        }
      })(),
    ).rejects.toMatchObject({ code: 'AGENT_NETWORK_ERROR' });
  });

  it('refuses non-HTTP URLs', async () => {
    expect(() => new HttpTransport({ baseUrl: 'file:///etc', token: 't' })).toThrow(
      expect.objectContaining({ code: 'AGENT_CONFIG_INVALID' }),
    );
    await expect(transport().fetchEnvelope('file:///etc/passwd', 10)).rejects.toMatchObject({
      code: 'AGENT_RESPONSE_INVALID',
    });
  });
});
