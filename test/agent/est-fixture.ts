// A stand-in EST + device API server for the agent's client tests: real node:https with TLS 1.3,
// real certificates from the server's PKI core, fixed RFC 7030 answers. The real service is
// exercised by test/e2e/agent-identity.test.ts.
import 'reflect-metadata';
import { X509Certificate } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import * as x509 from '@peculiar/x509';
import {
  createIssuingCa,
  createRootCa,
  issueDeviceCertificate,
  issueServerCertificate,
  type PkiKeyPair,
} from '../../packages/server/src/pki/index.js';

/** A CA hierarchy like the service's: offline root, issuing CA, server certificate. */
export interface TestPki {
  readonly root: PkiKeyPair;
  readonly issuing: PkiKeyPair;
  readonly server: PkiKeyPair;
}

export async function makePki(now = new Date()): Promise<TestPki> {
  const root = await createRootCa({ commonName: 'Test root', validityDays: 3650, now });
  const issuing = await createIssuingCa(root, {
    commonName: 'Test issuing CA',
    validityDays: 3650,
    now,
  });
  const server = await issueServerCertificate(issuing, {
    hosts: ['localhost', '127.0.0.1'],
    validityDays: 3650,
    now,
  });
  return { root, issuing, server };
}

/** Base64 PKCS#7 certs-only (RFC 7030 §4.1.3) of PEM certificates. */
export function certsOnly(pems: readonly string[]): string {
  return new x509.X509Certificates(pems.map((p) => new x509.X509Certificate(p))).export('base64');
}

export interface Recorded {
  readonly path: string;
  readonly authorization: string | undefined;
  /** SHA-256 fingerprint of the client certificate presented, if any. */
  readonly clientCert: string | null;
}

export interface FixtureOptions {
  readonly pki: TestPki;
  /** Time of issuance (the rotation test moves it ahead). */
  now(): Date;
  /** Overrides the answer of one request; return true when handled. */
  intercept?(req: IncomingMessage, res: ServerResponse, body: Buffer): boolean | Promise<boolean>;
  readonly validityDays?: number;
  readonly token?: string;
  /** A manufacturing CA whose certificates may enroll. */
  readonly birthCa?: string;
  /** Answers 202 this many times before issuing to a birth certificate. */
  readonly pendingTimes?: number;
  readonly tlsMaxVersion?: 'TLSv1.2' | 'TLSv1.3';
}

export interface EstFixture {
  readonly url: string;
  readonly requests: Recorded[];
  /** Fingerprints of every operational certificate issued. */
  readonly issued: string[];
  close(): Promise<void>;
}

/** Starts the stand-in on 127.0.0.1. */
export async function startEstFixture(options: FixtureOptions): Promise<EstFixture> {
  const requests: Recorded[] = [];
  const issued: string[] = [];
  let pending = options.pendingTimes ?? 0;
  const server: Server = createServer(
    {
      cert: options.pki.server.certificatePem + options.pki.issuing.certificatePem,
      key: options.pki.server.privateKeyPem,
      minVersion: 'TLSv1.2',
      maxVersion: options.tlsMaxVersion ?? 'TLSv1.3',
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void handle(req, res, Buffer.concat(chunks)).catch((error: unknown) => {
          res.writeHead(500).end(String(error));
        });
      });
    },
  );
  const peer = (req: IncomingMessage): X509Certificate | null => {
    const raw = (req.socket as TLSSocket).getPeerCertificate();
    return raw?.raw ? new X509Certificate(raw.raw) : null;
  };
  const issue = async (res: ServerResponse, body: Buffer, name: string) => {
    // The CSR arrives base64 (RFC 7030 §4.2.1).
    const csr = Buffer.from(body.toString('latin1').replace(/\s+/g, ''), 'base64');
    const pem = await issueDeviceCertificate(options.pki.issuing, new Uint8Array(csr), {
      deviceName: name,
      deviceId: `id-${name}`,
      tenantId: 'tenant-1',
      validityDays: options.validityDays ?? 30,
      now: options.now(),
    });
    issued.push(new X509Certificate(pem).fingerprint256);
    res
      .writeHead(200, { 'content-type': 'application/pkcs7-mime; smime-type=certs-only' })
      .end(certsOnly([pem, options.pki.issuing.certificatePem]));
  };
  async function handle(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const cert = peer(req);
    requests.push({
      path: req.url ?? '',
      authorization: req.headers.authorization,
      clientCert: cert?.fingerprint256 ?? null,
    });
    if (options.intercept && (await options.intercept(req, res, body))) return;
    const issuing = new X509Certificate(options.pki.issuing.certificatePem);
    const operational = cert?.verify(issuing.publicKey) ? cert : null;
    if (req.url === '/.well-known/est/simpleenroll') {
      const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (basic !== undefined) {
        const [name, token] = Buffer.from(basic, 'base64').toString().split(':');
        if (token !== options.token) {
          res.writeHead(401, { 'www-authenticate': 'Basic realm="updraft-est"' }).end();
          return;
        }
        return issue(res, body, name!);
      }
      const birthCa = options.birthCa ? new X509Certificate(options.birthCa) : null;
      if (cert !== null && birthCa !== null && cert.verify(birthCa.publicKey)) {
        if (pending > 0) {
          pending -= 1;
          res.writeHead(202, { 'retry-after': '7' }).end();
          return;
        }
        return issue(res, body, /CN=(.*)/.exec(cert.subject)![1]!);
      }
      res.writeHead(401).end();
      return;
    }
    if (req.url === '/.well-known/est/simplereenroll') {
      if (operational === null) {
        res.writeHead(401).end();
        return;
      }
      return issue(res, body, /CN=(.*)/.exec(operational.subject)![1]!);
    }
    if (req.url === '/api/device/v1/check-in') {
      if (operational === null && req.headers.authorization !== `Bearer ${options.token}`) {
        res.writeHead(401, { 'content-type': 'application/problem+json' }).end('{}');
        return;
      }
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ pollIntervalSeconds: 60, action: null }));
      return;
    }
    res.writeHead(404).end();
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    requests,
    issued,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A clock for tests: `sleep` moves time ahead at once and records the wait. */
export class TestClock {
  time = Date.now();
  readonly slept: number[] = [];
  now(): number {
    return this.time;
  }
  async sleep(ms: number): Promise<void> {
    this.slept.push(ms);
    this.time += ms;
  }
}
