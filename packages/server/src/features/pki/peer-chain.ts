import type { FastifyRequest } from 'fastify';

/**
 * The TLS client certificates of a request (PEM, leaf first, as presented, unverified). The
 * default is `peerCertificates` of `tls/peer-certificate.ts` (TLS socket, or the trusted proxy's
 * header); wired in `build-server.ts`.
 */
export type PeerCertificates = (request: FastifyRequest) => readonly string[] | undefined;
