import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { userOf } from '../../http/access-control.js';
import { auditedBy } from '../../http/audit-hook.js';
import { REVOCATION_REASONS } from '../../pki/pki.js';
import type { PkiService } from './pki.service.js';
import { DEVICE_CERTIFICATE_STATES } from './pki.table.js';

const tags = ['pki'];
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);
const Ref = Type.String({ minLength: 1, maxLength: 200 });
const Pem = Type.String({ minLength: 1, maxLength: 65_536 });
const RefParams = Type.Object({ ref: Ref });
const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });
const Reason = Type.Enum(REVOCATION_REASONS);

const CertificateSchema = Type.Object({
  id: Type.String(),
  deviceId: Type.String(),
  serial: Type.String(),
  fingerprint: Type.String(),
  spkiFingerprint: Type.String(),
  subject: Type.String(),
  notBefore: Type.String(),
  notAfter: Type.String(),
  issuedAt: Type.String(),
  issuedVia: Type.String(),
  state: Type.String(),
  supersededAt: Nullable(Type.String()),
  revokedAt: Nullable(Type.String()),
  revocationReason: Nullable(Type.String()),
  certificatePem: Type.String(),
});
const ManufacturingCaSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  subject: Type.String(),
  fingerprint: Type.String(),
  notAfter: Type.String(),
  autoAccept: Type.Boolean(),
  deviceClassId: Type.String(),
  createdAt: Type.String(),
  removedAt: Nullable(Type.String()),
  certificatePem: Type.String(),
});
const CaSchema = Type.Object({
  certificatePem: Type.String(),
  chainPem: Type.String(),
  fingerprint: Type.String(),
  source: Type.String(),
  notAfter: Type.String(),
  subject: Type.String(),
});
const SettingsSchema = Type.Object(
  { bearerTokensAllowed: Type.Boolean() },
  { additionalProperties: false },
);

/** `/api/v1/pki/…` and `/api/v1/devices/{id}/…`: the PKI's management API (docs/pki.md). */
export const pkiRoutes: FastifyPluginAsyncTypebox<{ pki: PkiService }> = async (app, { pki }) => {
  app.get(
    '/pki/ca',
    {
      config: { permission: 'pki:read' },
      schema: {
        tags,
        description: "The tenant's issuing CA and the chain devices pin (never the key).",
        response: { 200: CaSchema },
      },
    },
    async (request) => pki.caView(userOf(request).tenantId),
  );

  app.put(
    '/pki/ca',
    {
      config: { permission: 'settings:write' },
      schema: {
        tags,
        description:
          'Import an issuing CA (e.g. made by `updraft pki init` under the offline root): its certificate, its private key (PKCS#8 P-256) and the chain up to the root. New certificates come from it at once.',
        body: Type.Object(
          { certificatePem: Pem, privateKeyPem: Pem, chainPem: Type.Optional(Pem) },
          { additionalProperties: false },
        ),
        response: { 200: CaSchema },
      },
    },
    async (request) =>
      pki.importCa(
        auditedBy(request, 'pki.ca.import', 'tenant'),
        userOf(request).tenantId,
        request.body,
      ),
  );

  app.get(
    '/pki/manufacturing-cas',
    {
      config: { permission: 'pki:read' },
      schema: {
        tags,
        description: 'Registered manufacturing CAs (removed ones are not listed).',
        response: { 200: Type.Object({ items: Type.Array(ManufacturingCaSchema) }) },
      },
    },
    async (request) => ({ items: await pki.listManufacturingCas(userOf(request).tenantId) }),
  );

  app.post(
    '/pki/manufacturing-cas',
    {
      config: { permission: 'settings:write' },
      schema: {
        tags,
        description:
          'Register a manufacturing CA: its birth certificates may enroll devices of `deviceClass` (name or id); unknown devices become `pending` unless `autoAccept`.',
        body: Type.Object(
          {
            certificatePem: Pem,
            name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
            autoAccept: Type.Optional(Type.Boolean()),
            deviceClass: Type.String({ minLength: 1, maxLength: 200 }),
          },
          { additionalProperties: false },
        ),
        response: { 201: ManufacturingCaSchema },
      },
    },
    async (request, reply) => {
      const user = userOf(request);
      const created = await pki.addManufacturingCa(
        auditedBy(request, 'pki.manufacturing-ca.add', 'manufacturing-ca'),
        user.tenantId,
        user.userId,
        request.body,
      );
      return reply.code(201).send(created);
    },
  );

  app.delete(
    '/pki/manufacturing-cas/:id',
    {
      config: { permission: 'settings:write' },
      schema: {
        tags,
        description: 'Remove a manufacturing CA: its birth certificates no longer enroll.',
        params: IdParams,
      },
    },
    async (request, reply) => {
      await pki.removeManufacturingCa(
        auditedBy(request, 'pki.manufacturing-ca.remove', 'manufacturing-ca'),
        userOf(request).tenantId,
        request.params.id,
      );
      return reply.code(204).send();
    },
  );

  app.post(
    '/pki/enrollment-tokens',
    {
      config: { permission: 'pki:write' },
      schema: {
        tags,
        description:
          'A one-time enrollment token for a device (name or id), shown only in this answer. The device sends it as the HTTP Basic password of EST `simpleenroll` (user = its name).',
        body: Type.Object(
          {
            device: Ref,
            expiresInSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 31_536_000 })),
          },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({
            token: Type.String(),
            expiresAt: Type.String(),
            deviceId: Type.String(),
          }),
        },
      },
    },
    async (request, reply) => {
      const user = userOf(request);
      const created = await pki.createEnrollmentToken(
        auditedBy(request, 'pki.enrollment-token.create', 'enrollment-token'),
        user.tenantId,
        user.userId,
        request.body,
      );
      return reply.code(201).send(created);
    },
  );

  app.get(
    '/pki/certificates',
    {
      config: { permission: 'pki:read' },
      schema: {
        tags,
        description:
          'The certificate inventory, newest first. Page with `cursor=<nextCursor of the previous page>`.',
        querystring: Type.Object({
          device: Type.Optional(Ref),
          state: Type.Optional(Type.Enum(DEVICE_CERTIFICATE_STATES)),
          expiringWithinDays: Type.Optional(Type.Integer({ minimum: 0, maximum: 36_500 })),
          limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
          cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
        }),
        response: {
          200: Type.Object({
            items: Type.Array(CertificateSchema),
            nextCursor: Nullable(Type.String()),
          }),
        },
      },
    },
    async (request) => pki.listCertificates(userOf(request).tenantId, request.query),
  );

  app.get(
    '/pki/certificates/:ref',
    {
      config: { permission: 'pki:read' },
      schema: {
        tags,
        description: "A certificate by id or serial (hex), or a device's newest certificate.",
        params: RefParams,
        response: { 200: CertificateSchema },
      },
    },
    async (request) => pki.getCertificate(userOf(request).tenantId, request.params.ref),
  );

  app.post(
    '/pki/certificates/:ref/revoke',
    {
      config: { permission: 'pki:write' },
      schema: {
        tags,
        description:
          'Revoke a certificate (id or serial): refused at once by the device API, EST and MQTT, and listed on the CRL.',
        params: RefParams,
        body: Type.Object({ reason: Type.Optional(Reason) }, { additionalProperties: false }),
        response: { 200: CertificateSchema },
      },
    },
    async (request) => {
      const user = userOf(request);
      return pki.revoke(
        auditedBy(request, 'pki.certificate.revoke', 'certificate'),
        user.tenantId,
        user.userId,
        request.params.ref,
        request.body?.reason ?? 'unspecified',
      );
    },
  );

  app.post(
    '/devices/:ref/certificates/revoke',
    {
      config: { permission: 'pki:write' },
      schema: {
        tags,
        description: 'Revoke every certificate of a device (name or id) that is not revoked yet.',
        params: RefParams,
        body: Type.Object({ reason: Type.Optional(Reason) }, { additionalProperties: false }),
        response: { 200: Type.Object({ revoked: Type.Integer() }) },
      },
    },
    async (request) => {
      const user = userOf(request);
      return pki.revokeDevice(
        auditedBy(request, 'pki.device-certificates.revoke', 'device'),
        user.tenantId,
        user.userId,
        request.params.ref,
        request.body?.reason ?? 'unspecified',
      );
    },
  );

  app.get(
    '/pki/expiry-report',
    {
      config: { permission: 'pki:read' },
      schema: {
        tags,
        description: 'Active certificates expiring within `days` (default 30), soonest first.',
        querystring: Type.Object({
          days: Type.Integer({ minimum: 0, maximum: 36_500, default: 30 }),
          limit: Type.Integer({ minimum: 1, maximum: 5000, default: 1000 }),
        }),
        response: {
          200: Type.Object({ days: Type.Integer(), items: Type.Array(CertificateSchema) }),
        },
      },
    },
    async (request) =>
      pki.expiryReport(userOf(request).tenantId, request.query.days, request.query.limit),
  );

  app.get(
    '/pki/settings',
    {
      config: { permission: 'pki:read' },
      schema: {
        tags,
        description: "The tenant's PKI settings.",
        response: { 200: SettingsSchema },
      },
    },
    async (request) => pki.settings(userOf(request).tenantId),
  );

  app.put(
    '/pki/settings',
    {
      config: { permission: 'settings:write' },
      schema: {
        tags,
        description:
          '`bearerTokensAllowed` (default true): false makes the device API refuse bearer device tokens (mTLS only).',
        body: SettingsSchema,
        response: { 200: SettingsSchema },
      },
    },
    async (request) => {
      const user = userOf(request);
      return pki.setSettings(
        auditedBy(request, 'pki.settings', 'tenant'),
        user.tenantId,
        user.userId,
        request.body,
      );
    },
  );

  app.post(
    '/devices/:ref/admission',
    {
      config: { permission: 'pki:write' },
      schema: {
        tags,
        description:
          '`accept` lets a pending device (registered by its birth certificate) enroll; `reject` bars it.',
        params: RefParams,
        body: Type.Object(
          { decision: Type.Union([Type.Literal('accept'), Type.Literal('reject')]) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ deviceId: Type.String(), admission: Type.String() }),
        },
      },
    },
    async (request) =>
      pki.decideAdmission(
        auditedBy(request, 'device.admission', 'device'),
        userOf(request).tenantId,
        request.params.ref,
        request.body.decision,
      ),
  );
};

/** `GET /pki/<tenant name>/crl`: the tenant's CRL (DER), public (docs/pki.md). */
export const crlRoutes: FastifyPluginAsyncTypebox<{ pki: PkiService }> = async (app, { pki }) => {
  app.get(
    '/pki/:tenant/crl',
    {
      config: { permission: 'public' },
      schema: {
        tags,
        description:
          "The tenant's certificate revocation list (DER, `application/pkix-crl`), signed by its issuing CA, valid one day.",
        params: Type.Object({
          tenant: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' }),
        }),
      },
    },
    async (request, reply) => {
      const der = await pki.crl(await pki.tenantIdByName(request.params.tenant));
      return reply
        .header('content-type', 'application/pkix-crl')
        .header('cache-control', 'public, max-age=300')
        .send(Buffer.from(der));
    },
  );
};
