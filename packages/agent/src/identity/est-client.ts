import type { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';
import { parseJson } from '../adapters/device-api-answers.js';
import { connectionError } from '../adapters/http/connection-error.js';
import { clientCertificate } from '../adapters/http/http-transport.js';
import { parseRetryAfter, readLimited } from '../adapters/http/read-answer.js';
import { AgentError } from '../errors.js';
import type { Clock } from '../ports/clock.js';
import type { DeviceKey, TlsKey } from '../ports/device-key.js';
import type { DeviceIdentity } from './identity-store.js';
import { certifiesKey, chainsTo, commonName } from './pem.js';
import type { PinnedCa } from './pinned-ca.js';
import { buildCsr, parseCertsOnly } from './x509.js';

/** Settings of {@link EstClient}. */
export interface EstClientOptions {
  /** Origin of the service (`https://…`); `label` picks a tenant: `/.well-known/est/<label>/…`. */
  readonly baseUrl: string;
  readonly label?: string;
  readonly pinnedCa: PinnedCa;
  readonly clock: Clock;
  /** Timeout of one request. Default 30 s. */
  readonly requestTimeoutMs?: number;
  /**
   * Longest total wait on `202 Accepted` (a pending device) before `AGENT_ENROLLMENT_PENDING`.
   * Default 1 h: several of the service's default `Retry-After` (600 s) fit.
   */
  readonly maxPendingWaitMs?: number;
}

/** How `simpleenroll` is authenticated (RFC 7030 §3.2.3 / §3.3.2). */
export type EnrollmentCredentials =
  | { readonly token: string }
  | { readonly birthCertificatePem: string; readonly birthKey: TlsKey };

const MAX_ANSWER_BYTES = 64 * 1024;
// One Retry-After is honoured up to this long; the total is bounded by maxPendingWaitMs.
const MAX_RETRY_AFTER_MS = 10 * 60_000;
const DEFAULT_RETRY_AFTER_MS = 30_000;

/**
 * An EST (RFC 7030) client for the device's own enrollment: `simpleenroll` with a one-time token
 * (HTTP Basic) or a birth certificate (TLS client certificate), `simplereenroll` with the current
 * operational certificate. The service is trusted through the pinned CA only, at TLS 1.3. Every
 * answer is hostile until checked: sizes and times are bounded, and the certificate returned must
 * certify our key, carry our name and chain to the pin, else `AGENT_CERTIFICATE_INVALID`.
 *
 * @example
 * const est = new EstClient({ baseUrl: 'https://updates.example.com', pinnedCa, clock: systemClock });
 * const certs = await est.enroll('pump-17', key, { token }); // leaf first
 */
export class EstClient {
  readonly #base: URL;
  readonly #prefix: string;
  readonly #pin: PinnedCa;
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #maxPendingMs: number;

  constructor(options: EstClientOptions) {
    this.#base = new URL(options.baseUrl);
    if (this.#base.protocol !== 'https:') {
      throw new AgentError('AGENT_CONFIG_INVALID', 'EST needs an https server URL');
    }
    if (options.label !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(options.label)) {
      throw new AgentError('AGENT_CONFIG_INVALID', 'bad EST label');
    }
    this.#prefix = `/.well-known/est/${options.label ? `${options.label}/` : ''}`;
    this.#pin = options.pinnedCa;
    this.#clock = options.clock;
    this.#timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.#maxPendingMs = options.maxPendingWaitMs ?? 60 * 60_000;
  }

  /** `GET cacerts`: the CA certificates the service publishes (checked to chain to the pin). */
  async caCertificates(): Promise<X509Certificate[]> {
    const res = await this.#send('GET', 'cacerts', null, {}, {});
    if (res.statusCode !== 200) throw await failure(res);
    const certs = await readCertsOnly(res);
    const now = this.#clock.now();
    if (!certs.every((c) => c.ca && chainsTo(c, certs, this.#pin.certificates, now))) {
      throw new AgentError(
        'AGENT_CERTIFICATE_INVALID',
        'cacerts holds a certificate outside the pin',
      );
    }
    return certs;
  }

  /**
   * `simpleenroll`: a certificate for `key` as device `deviceName`. Waits on `202` as the service
   * asks (bounded); returns the certificates, leaf first.
   */
  async enroll(
    deviceName: string,
    key: DeviceKey,
    credentials: EnrollmentCredentials,
  ): Promise<X509Certificate[]> {
    const headers: Record<string, string> = {};
    let tls: Record<string, string> = {};
    if ('token' in credentials) {
      // RFC 7617: the user-id may not contain a colon; the password may.
      if (deviceName.includes(':')) {
        throw new AgentError('AGENT_CONFIG_INVALID', 'a device name for Basic auth has no colon');
      }
      const basic = Buffer.from(`${deviceName}:${credentials.token}`).toString('base64');
      headers.authorization = `Basic ${basic}`;
    } else {
      tls = { cert: credentials.birthCertificatePem, ...credentials.birthKey };
    }
    return this.#enroll('simpleenroll', deviceName, key, headers, tls);
  }

  /** `simplereenroll`: a certificate for the new `key`, authenticated by the current identity. */
  async reenroll(
    deviceName: string,
    key: DeviceKey,
    current: DeviceIdentity,
  ): Promise<X509Certificate[]> {
    return this.#enroll('simplereenroll', deviceName, key, {}, clientCertificate(current));
  }

  async #enroll(
    operation: 'simpleenroll' | 'simplereenroll',
    deviceName: string,
    key: DeviceKey,
    headers: Record<string, string>,
    tls: Record<string, string>,
  ): Promise<X509Certificate[]> {
    const spki = await key.publicKeySpki();
    const csr = await buildCsr(key, deviceName);
    const body = Buffer.from(csr).toString('base64').replace(/.{64}/g, '$&\r\n');
    const started = this.#clock.now();
    for (;;) {
      const res = await this.#send(
        'POST',
        operation,
        body,
        {
          ...headers,
          'content-type': 'application/pkcs10',
          'content-transfer-encoding': 'base64',
        },
        tls,
      );
      if (res.statusCode === 202) {
        // RFC 7030 §4.2.3: pending (an operator must accept the device); ask again later.
        res.resume();
        const waitMs = Math.min(
          (parseRetryAfter(res) ?? DEFAULT_RETRY_AFTER_MS / 1000) * 1000 || DEFAULT_RETRY_AFTER_MS,
          MAX_RETRY_AFTER_MS,
        );
        const waited = this.#clock.now() - started;
        if (waited + waitMs > this.#maxPendingMs) {
          throw new AgentError('AGENT_ENROLLMENT_PENDING', 'the device awaits an operator', {
            details: { retryAfterSeconds: Math.ceil(waitMs / 1000) },
          });
        }
        await this.#clock.sleep(waitMs);
        continue;
      }
      if (res.statusCode !== 200) throw await failure(res);
      const certs = await readCertsOnly(res);
      return this.#check(certs, spki, deviceName);
    }
  }

  // Default-deny: the answer is refused unless every check passes.
  #check(certs: X509Certificate[], spki: Uint8Array, deviceName: string): X509Certificate[] {
    const leaf = certs.find((c) => !c.ca && certifiesKey(c, spki));
    if (leaf === undefined) {
      throw new AgentError('AGENT_CERTIFICATE_INVALID', 'no certificate for our key in the answer');
    }
    const others = certs.filter((c) => c !== leaf);
    if (!chainsTo(leaf, others, this.#pin.certificates, this.#clock.now())) {
      throw new AgentError(
        'AGENT_CERTIFICATE_INVALID',
        'the new certificate does not chain to the pinned CA (or is not valid now)',
        { details: { issuer: leaf.issuer } },
      );
    }
    if (commonName(leaf) !== deviceName) {
      throw new AgentError(
        'AGENT_CERTIFICATE_INVALID',
        'the new certificate names another device',
        {
          details: { subject: leaf.subject },
        },
      );
    }
    return [leaf, ...others.filter((c) => c.ca)];
  }

  #send(
    method: 'GET' | 'POST',
    operation: string,
    body: string | null,
    headers: Record<string, string>,
    tls: Record<string, string>,
  ): Promise<IncomingMessage> {
    const url = new URL(this.#prefix + operation, this.#base);
    const all = { ...headers };
    if (body !== null) all['content-length'] = String(Buffer.byteLength(body));
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          headers: all,
          signal: AbortSignal.timeout(this.#timeoutMs),
          // One-off requests with their own credentials: no pooled connection to share.
          agent: false,
          ...this.#pin.tlsOptions(),
          ...tls,
        },
        resolve,
      );
      req.on('error', (cause) => reject(connectionError(cause, url)));
      req.end(body ?? undefined);
    });
  }
}

async function readCertsOnly(res: IncomingMessage): Promise<X509Certificate[]> {
  const type = String(res.headers['content-type'] ?? '').toLowerCase();
  if (!type.startsWith('application/pkcs7-mime')) {
    res.resume();
    throw new AgentError('AGENT_RESPONSE_INVALID', 'EST answer is not application/pkcs7-mime');
  }
  const text = Buffer.from(await readLimited(res, MAX_ANSWER_BYTES, 'AGENT_RESPONSE_INVALID'))
    .toString('latin1')
    .replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) {
    throw new AgentError('AGENT_RESPONSE_INVALID', 'EST answer is not base64');
  }
  return parseCertsOnly(new Uint8Array(Buffer.from(text, 'base64')));
}

// 401/403: credentials refused; 400: the request refused (CSR, reused key); else a server error.
async function failure(res: IncomingMessage): Promise<AgentError> {
  const status = res.statusCode ?? 0;
  let code: string | null = null;
  try {
    const problem = parseJson(await readLimited(res, 16 * 1024, 'AGENT_RESPONSE_INVALID'));
    if (typeof problem === 'object' && problem !== null && 'code' in problem) {
      const c = (problem as { code: unknown }).code;
      if (typeof c === 'string') code = c.slice(0, 64);
    }
  } catch {
    // Not problem+json: the status alone is reported.
  }
  const details = { status, code };
  if (status === 401 || status === 403) {
    return new AgentError('AGENT_ENROLLMENT_REFUSED', `EST refused the credentials (${status})`, {
      details,
    });
  }
  if (status === 400) {
    return new AgentError('AGENT_ENROLLMENT_REJECTED', 'EST refused the request', { details });
  }
  return new AgentError('AGENT_SERVER_ERROR', `EST answered ${status}`, { details });
}
