import type { DetailedPeerCertificate } from 'node:tls';
import { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';

/** The TLS client certificates of a request (PEM, leaf first, as presented, unverified). */
export type PeerCertificates = (request: FastifyRequest) => readonly string[] | undefined;

/**
 * Reads the client certificate chain from the request's TLS socket. The TLS part
 * (`tls/peer-certificate.ts`) supersedes this with the proxy-header variant; wired in
 * `build-server.ts`.
 */
export const socketPeerCertificates: PeerCertificates = (request) => {
  const socket = request.raw.socket;
  if (!(socket instanceof TLSSocket)) return undefined;
  // An empty object when the client sent no certificate.
  const leaf = socket.getPeerCertificate(true) as Partial<DetailedPeerCertificate>;
  if (leaf.raw === undefined) return undefined;
  const pems: string[] = [];
  const seen = new Set<string>();
  let current: Partial<DetailedPeerCertificate> | undefined = leaf;
  while (current?.raw !== undefined && pems.length < 8) {
    const key = current.fingerprint256 ?? current.raw.toString('hex');
    if (seen.has(key)) break; // a self-signed issuer points at itself
    seen.add(key);
    const body =
      current.raw
        .toString('base64')
        .match(/.{1,64}/g)
        ?.join('\n') ?? '';
    pems.push(`-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`);
    current = current.issuerCertificate;
  }
  return pems;
};
