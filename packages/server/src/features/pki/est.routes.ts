import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { ServerError } from '../../errors.js';
import { DEFAULT_TENANT_ID } from '../../tenants/tenant.repository.js';
import { peerCertificates } from '../../tls/peer-certificate.js';
import { basicCredentials, decodeEstCsr, MAX_EST_BODY_BYTES } from './est-body.js';
import type { EnrollmentResult, PkiService } from './pki.service.js';

const CERTS_ONLY = 'application/pkcs7-mime; smime-type=certs-only';
const REALM = 'Basic realm="updraft-est"';
const TenantLabel = Type.Object({
  tenant: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' }),
});
const tags = ['est'];

/** Base64 with line breaks every 64 characters, as RFC 7030 clients (libest) expect. */
function base64Lines(der: Uint8Array): string {
  return `${(
    Buffer.from(der)
      .toString('base64')
      .match(/.{1,64}/g) ?? []
  ).join('\r\n')}\r\n`;
}

/**
 * EST (RFC 7030) at `/.well-known/est/` (default tenant) and `/.well-known/est/<tenant name>/`:
 * `cacerts`, `simpleenroll` (HTTP Basic `<device name>:<enrollment token>`, or a birth
 * certificate as TLS client certificate) and `simplereenroll` (the current operational
 * certificate). Public routes: the credentials are EST's own, checked by the service.
 */
export const estRoutes: FastifyPluginAsyncTypebox<{ pki: PkiService }> = async (app, { pki }) => {
  const { limiter, metrics } = app.updraft;
  app.addContentTypeParser(
    'application/pkcs10',
    { parseAs: 'buffer', bodyLimit: MAX_EST_BODY_BYTES },
    (_request, body, done) => done(null, body),
  );
  // RFC 7030 §3.2.3: a 401 names the scheme the client may use.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (reply.statusCode === 401) reply.header('www-authenticate', REALM);
    done(null, payload);
  });

  const tenantOf = async (request: FastifyRequest): Promise<string> => {
    const label = (request.params as { tenant?: string }).tenant;
    return label === undefined ? DEFAULT_TENANT_ID : pki.tenantIdByName(label);
  };
  const caller = (request: FastifyRequest) => ({ ip: request.ip, requestId: request.id });
  const csrOf = (request: FastifyRequest): Uint8Array => {
    if (!Buffer.isBuffer(request.body))
      throw new ServerError('HTTP_UNSUPPORTED_MEDIA_TYPE', 'send the CSR as application/pkcs10');
    return decodeEstCsr(request.body);
  };
  // Counts a refusal by reason (a bounded set: the service's reasons and error codes); a
  // concurrent-issuance 503 is a refusal the device retries, not a fault.
  const refused = (error: unknown): never => {
    if (
      error instanceof ServerError &&
      ((error.status >= 400 && error.status < 500) ||
        error.code === 'PKI_CERTIFICATE_ISSUANCE_CONFLICT')
    ) {
      const reason = error.details?.reason;
      metrics.pkiRefusals.inc({
        channel: 'est',
        reason: typeof reason === 'string' ? reason : error.code.toLowerCase(),
      });
    }
    throw error;
  };
  const answer = (
    reply: FastifyReply,
    result: EnrollmentResult,
    certs: (pem: string) => Uint8Array,
  ) => {
    // The service wrote the audit entry of the issuance or registration in its transaction.
    reply.request.auditWritten = true;
    if (result.kind === 'pending')
      return reply
        .code(202)
        .header('retry-after', String(result.retryAfterSeconds))
        .send({ status: 'pending', deviceId: result.deviceId });
    return reply
      .code(200)
      .header('content-type', CERTS_ONLY)
      .header('content-transfer-encoding', 'base64')
      .send(base64Lines(certs(result.certificatePem)));
  };

  const cacerts = async (request: FastifyRequest, reply: FastifyReply) => {
    const der = await pki.caCerts(await tenantOf(request));
    return reply
      .header('content-type', CERTS_ONLY)
      .header('content-transfer-encoding', 'base64')
      .send(base64Lines(der));
  };

  const simpleenroll = async (request: FastifyRequest, reply: FastifyReply) => {
    try {
      const tenantId = await tenantOf(request);
      const basic = basicCredentials(request.headers.authorization);
      const peer = peerCertificates(request);
      if (basic === undefined && (peer === undefined || peer.length === 0))
        throw limiter.failed(
          request.ip,
          new ServerError(
            'AUTH_UNAUTHENTICATED',
            'send HTTP Basic <device name>:<enrollment token>, or a birth certificate as TLS client certificate',
          ),
        );
      const csr = csrOf(request);
      let result: EnrollmentResult;
      if (basic !== undefined) {
        try {
          result = await pki.enrollWithToken(
            tenantId,
            caller(request),
            basic.user,
            basic.password,
            csr,
          );
        } catch (error) {
          if (error instanceof ServerError && error.code === 'PKI_ENROLLMENT_TOKEN_INVALID')
            throw limiter.failed(request.ip, error);
          throw error;
        }
      } else {
        result = await pki.enrollWithBirthCertificate(tenantId, caller(request), peer ?? [], csr);
      }
      return answer(reply, result, (pem) => pki.certsOnly(pem));
    } catch (error) {
      return refused(error);
    }
  };

  const simplereenroll = async (request: FastifyRequest, reply: FastifyReply) => {
    try {
      const tenantId = await tenantOf(request);
      const peer = peerCertificates(request) ?? [];
      const result = await pki.reenroll(tenantId, caller(request), peer, csrOf(request));
      return answer(reply, result, (pem) => pki.certsOnly(pem));
    } catch (error) {
      return refused(error);
    }
  };

  const enrollSchema = (description: string, params?: typeof TenantLabel) => ({
    tags,
    description,
    ...(params ? { params } : {}),
  });
  for (const [prefix, params] of [
    ['/.well-known/est', undefined],
    ['/.well-known/est/:tenant', TenantLabel],
  ] as const) {
    app.get(
      `${prefix}/cacerts`,
      {
        config: { permission: 'public' },
        schema: enrollSchema(
          'The CA chain devices pin (issuing CA then root), PKCS#7 certs-only, base64.',
          params,
        ),
      },
      cacerts,
    );
    app.post(
      `${prefix}/simpleenroll`,
      {
        config: { permission: 'public' },
        schema: enrollSchema(
          'Enroll: a base64 `application/pkcs10` CSR, authenticated by HTTP Basic `<device name>:<one-time enrollment token>` or a birth certificate (TLS client certificate) of a registered manufacturing CA. 200: the certificate (PKCS#7 certs-only, base64); 202 + Retry-After while the device waits for an operator.',
          params,
        ),
      },
      simpleenroll,
    );
    app.post(
      `${prefix}/simplereenroll`,
      {
        config: { permission: 'public' },
        schema: enrollSchema(
          'Rotate: a CSR with a new key, authenticated by the current operational certificate (TLS client certificate).',
          params,
        ),
      },
      simplereenroll,
    );
  }
};
