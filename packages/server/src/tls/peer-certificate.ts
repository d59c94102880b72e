import { createRequire } from 'node:module';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import type { ServerConfig } from '../config/config.js';

/** Longest client-certificate header believed (a leaf plus a few intermediates, URL-encoded). */
export const MAX_CLIENT_CERT_HEADER_BYTES = 32 * 1024;
/** Most certificates taken from one connection or header (as `verifyCertificateChain`'s bound). */
const MAX_CHAIN_CERTIFICATES = 8;

/** The one function of proxy-addr used here (Fastify's own trustProxy matcher). */
interface ProxyAddr {
  compile(value: string[]): (address: string, index: number) => boolean;
}
// Resolved through Fastify, whose dependency it is: the very matcher that decides `request.ip`.
const proxyAddr = createRequire(createRequire(import.meta.url).resolve('fastify'))(
  '@fastify/proxy-addr',
) as ProxyAddr;

/** The connection and headers a {@link PeerCertificateReader} looks at. */
export interface PeerCertificateSource {
  readonly socket: { readonly remoteAddress?: string | undefined };
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** Reads the client's certificates as presented (PEM, leaf first, NOT verified). */
export type PeerCertificateReader = (
  source: PeerCertificateSource,
) => readonly string[] | undefined;

/**
 * Builds the reader for one configuration: with `tls.clientCertHeader` set, a request whose TCP
 * peer is one of `trustProxy` is identified by that header only (URL-encoded PEM, like nginx's
 * `$ssl_client_escaped_cert`); from any other peer the header is ignored and the TLS connection's
 * own client certificate counts.
 *
 * `undefined`: no certificate presented. `[]`: a certificate was presented but is unreadable (an
 * oversized or garbled header); callers refuse it, never fall back to another credential.
 */
export function peerCertificateReader(
  config: Pick<ServerConfig, 'trustProxy'> & { tls: Pick<ServerConfig['tls'], 'clientCertHeader'> },
): PeerCertificateReader {
  const header = config.tls.clientCertHeader;
  const trusted =
    header !== '' && config.trustProxy.length > 0
      ? proxyAddr.compile([...config.trustProxy])
      : undefined;
  return (source) => {
    const address = source.socket.remoteAddress;
    // The TCP peer, not request.ip: X-Forwarded-For must not make a client look like the proxy.
    if (trusted !== undefined && address !== undefined && trusted(address, 0)) {
      return fromHeader(source.headers[header]);
    }
    return fromSocket(source.socket);
  };
}

/**
 * The client's certificates for a request as presented (PEM, leaf first, unverified; see
 * {@link peerCertificateReader}), per the app's configuration.
 *
 * @example
 * const chain = peerCertificates(request); // undefined → no client certificate
 */
export function peerCertificates(request: FastifyRequest): readonly string[] | undefined {
  // The app's reader (build-server.ts): its proxy matcher is compiled once, not per request.
  return request.server.updraft.peerCertificates({
    socket: request.raw.socket,
    headers: request.headers,
  });
}

function fromSocket(socket: PeerCertificateSource['socket']): readonly string[] | undefined {
  const tls = socket as Partial<TLSSocket>;
  if (typeof tls.getPeerCertificate !== 'function') return undefined; // plain HTTP
  let cert: DetailedPeerCertificate | undefined = tls.getPeerCertificate(true);
  if (cert?.raw === undefined) return undefined; // `{}`: the client sent none
  const chain: string[] = [];
  const seen = new Set<DetailedPeerCertificate>();
  // issuerCertificate links the presented chain; a self-signed certificate points to itself.
  while (cert?.raw !== undefined && !seen.has(cert) && chain.length < MAX_CHAIN_CERTIFICATES) {
    seen.add(cert);
    chain.push(derToPem(cert.raw));
    cert = cert.issuerCertificate;
  }
  return chain;
}

function fromHeader(value: string | string[] | undefined): readonly string[] | undefined {
  if (value === undefined || value === '') return undefined;
  // A repeated header is not something a proxy we trust would send.
  if (typeof value !== 'string' || value.length > MAX_CLIENT_CERT_HEADER_BYTES) return [];
  let text: string;
  try {
    text = decodeURIComponent(value);
  } catch {
    return [];
  }
  const blocks = text.match(
    /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----/g,
  );
  if (blocks === null) return [];
  return blocks.slice(0, MAX_CHAIN_CERTIFICATES).map((b) => `${b}\n`);
}

function derToPem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}
