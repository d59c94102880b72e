import { readFile, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createOpensslCa, type OpensslCa } from '@updraft/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpTransport } from './http-transport.js';

// Direct downloads: a payload URL on another host (an object store's pre-signed URL, a CDN)
// over TLS from a CA of its own, with Range resume and never the device's credential.
describe('HttpTransport, direct downloads on another host', () => {
  let ca: OpensslCa;
  let service: Server;
  let store: Server;
  let serviceBase: string;
  let storeBase: string;
  const seen: IncomingMessage['headers'][] = [];
  const blob = Buffer.from('0123456789abcdef');

  const listen = async (s: Server, scheme: string) => {
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    return `${scheme}://127.0.0.1:${(s.address() as AddressInfo).port}`;
  };

  beforeAll(async () => {
    // A private CA and a certificate for 127.0.0.1 (an object store with its own PKI).
    ca = await createOpensslCa('store CA');
    const leaf = ca.issue('leaf', '/CN=127.0.0.1', 'serverAuth');
    service = createHttpServer((_req, res) => res.writeHead(500).end());
    store = createHttpsServer(
      { key: await readFile(leaf.keyFile), cert: await readFile(leaf.certFile) },
      (req, res) => {
        seen.push(req.headers);
        const m = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
        if (m) {
          const start = Number(m[1]);
          res.writeHead(206, {
            'content-range': `bytes ${start}-${blob.length - 1}/${blob.length}`,
          });
          return void res.end(blob.subarray(start));
        }
        res.writeHead(200, { 'content-length': String(blob.length) }).end(blob);
      },
    );
    serviceBase = await listen(service, 'http');
    storeBase = await listen(store, 'https');
  });
  afterAll(async () => {
    service?.closeAllConnections();
    (store as Server | undefined)?.closeAllConnections();
    await new Promise((r) => service?.close(r));
    await new Promise((r) => store?.close(r));
    if (ca) await rm(ca.dir, { recursive: true, force: true });
  });

  const drain = async (body: AsyncIterable<Uint8Array>) => {
    const chunks: Uint8Array[] = [];
    for await (const c of body) chunks.push(c);
    return Buffer.concat(chunks);
  };

  it('resumes with Range on the other host over its CA, without the device token', async () => {
    const transport = new HttpTransport({
      baseUrl: serviceBase,
      token: 'device-secret',
      downloadCa: ca.certificatePem,
    });
    seen.length = 0;
    const url = `${storeBase}/bucket/blobs/x?X-Amz-Signature=abc`;
    const r = await transport.openPayload(url, 10, new AbortController().signal);
    expect(r).toMatchObject({ start: 10, totalSize: blob.length });
    expect((await drain(r.body)).toString()).toBe('abcdef');
    expect(seen[0]?.range).toBe('bytes=10-');
    expect(seen[0]?.authorization).toBeUndefined();
  });

  it("refuses the other host's certificate when neither the system nor a configured CA trusts it", async () => {
    const transport = new HttpTransport({ baseUrl: serviceBase, token: 'device-secret' });
    await expect(
      transport.openPayload(`${storeBase}/blob`, 0, new AbortController().signal),
    ).rejects.toMatchObject({ code: 'AGENT_TLS_REFUSED' });
  });
});
