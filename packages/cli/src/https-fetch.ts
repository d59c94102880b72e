import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';

/** The part of `fetch` the API client uses. */
export type FetchLike = (url: URL, init: FetchInit) => Promise<Response>;

/** The request options the API client passes. */
export interface FetchInit {
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | Uint8Array | undefined;
  readonly signal: AbortSignal;
}

/**
 * A `fetch` over node:http(s) that trusts `extraCaPems` in addition to the system roots (Node's
 * built-in fetch takes no CA option). Naming `ca` replaces Node's default store, so the store is
 * rebuilt here: the system roots, the certificates of `NODE_EXTRA_CA_CERTS` (the caller passes
 * them: they are part of the default store only when `ca` is not given), and the extra CAs.
 */
export function fetchTrusting(extraCaPems: readonly string[]): FetchLike {
  const ca = [...rootCertificates, ...extraCaPems];
  return (url, init) =>
    new Promise<Response>((resolve, reject) => {
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(
        url,
        {
          method: init.method,
          headers: {
            ...init.headers,
            ...(init.body === undefined
              ? {}
              : { 'content-length': String(Buffer.byteLength(init.body)) }),
          },
          signal: init.signal,
          ...(url.protocol === 'https:' ? { ca } : {}),
        },
        (res) => {
          const headers = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (value === undefined) continue;
            for (const v of [value].flat()) headers.append(name, v);
          }
          const status = res.statusCode ?? 502;
          const empty = status === 204 || status === 304 || init.method === 'HEAD';
          if (empty) res.resume();
          resolve(
            new Response(empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), {
              status,
              statusText: res.statusMessage ?? '',
              headers,
            }),
          );
        },
      );
      // fetch reports network failures as a TypeError with the cause; keep that shape.
      req.on('error', (error) => reject(new TypeError('fetch failed', { cause: error })));
      req.end(init.body);
    });
}
