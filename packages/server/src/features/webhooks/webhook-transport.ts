import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { isPrivateAddress } from './target-guard.js';

/** One POST of a delivery. */
export interface WebhookRequest {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** Connections to private addresses are allowed (the tenant's setting). */
  readonly allowPrivate: boolean;
  readonly timeoutMs: number;
  /** Bytes of the answer read at most (the rest is dropped). */
  readonly maxResponseBytes: number;
  /** Aborted when the server closes. */
  readonly signal: AbortSignal;
}

/** The answer's status, or why there was none. */
export type WebhookResponse =
  | { readonly ok: true; readonly status: number }
  | { readonly ok: false; readonly error: string };

/** How a delivery reaches its receiver (injected; default {@link nodeWebhookTransport}). */
export type WebhookTransport = (request: WebhookRequest) => Promise<WebhookResponse>;

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for the socket that refuses private addresses: the address checked is the one
 * connected to, so a host name that resolves elsewhere at delivery time (DNS rebinding) is stopped.
 */
function guardedLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, []);
    const inside = addresses.find((a) => isPrivateAddress(a.address));
    if (inside !== undefined) {
      const refused: NodeJS.ErrnoException = new Error(
        `${hostname} resolves to a private address (${inside.address})`,
      );
      refused.code = 'WEBHOOK_TARGET_PRIVATE';
      return callback(refused, []);
    }
    if (options.all) return callback(null, addresses);
    const first = addresses[0];
    if (first === undefined) return callback(new Error(`${hostname} has no address`), []);
    callback(null, first.address, first.family);
  });
}

/**
 * POSTs with node:http(s): no redirects followed (a 3xx is a failed attempt), at most
 * `timeoutMs` for the whole exchange, at most `maxResponseBytes` of the answer read.
 */
export const nodeWebhookTransport: WebhookTransport = (request) =>
  new Promise((resolve) => {
    let settled = false;
    const finish = (outcome: WebhookResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.signal.removeEventListener('abort', onAbort);
      resolve(outcome);
    };
    const url = new URL(request.url);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (!request.allowPrivate && isIP(host) !== 0 && isPrivateAddress(host)) {
      resolve({ ok: false, error: `refused: ${host} is a private address` });
      return;
    }
    const send = url.protocol === 'https:' ? https.request : http.request;
    const req = send(url, {
      method: 'POST',
      headers: { ...request.headers, 'content-length': Buffer.byteLength(request.body) },
      ...(request.allowPrivate ? {} : { lookup: guardedLookup }),
    });
    const timer = setTimeout(() => {
      req.destroy();
      finish({ ok: false, error: `timeout after ${request.timeoutMs} ms` });
    }, request.timeoutMs);
    const onAbort = () => {
      req.destroy();
      finish({ ok: false, error: 'aborted: server closing' });
    };
    request.signal.addEventListener('abort', onAbort);
    req.on('error', (error: NodeJS.ErrnoException) =>
      finish({ ok: false, error: `${error.code ?? 'ERROR'}: ${error.message}`.slice(0, 300) }),
    );
    req.on('response', (res) => {
      let read = 0;
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > request.maxResponseBytes) {
          // Enough: only the status matters; drop the connection instead of reading on.
          finish({ ok: true, status: res.statusCode ?? 0 });
          res.destroy();
        }
      });
      res.on('end', () => finish({ ok: true, status: res.statusCode ?? 0 }));
      res.on('error', () => finish({ ok: true, status: res.statusCode ?? 0 }));
    });
    req.end(request.body);
  });
