import { randomBytes, timingSafeEqual, X509Certificate } from 'node:crypto';
import { BugError } from '@updraft/core';
import type { Kysely, Transaction } from 'kysely';
import { hashToken, newId } from '../../auth/secrets.js';
import type { ServerConfig } from '../../config/config.js';
import type { Database } from '../../db/database.js';
import type { DialectSupport } from '../../db/dialect-support.js';
import { ServerError } from '../../errors.js';
import type { AuditedRun } from '../../http/audit-hook.js';
import type { Metrics } from '../../metrics/metrics.js';
import {
  certsOnlyPkcs7,
  checkImportedCa,
  createCrl,
  describeCertificate,
  issueDeviceCertificate,
  PkiError,
  type RevocationReason,
  spkiFingerprint,
  verifyCertificateChain,
} from '../../pki/pki.js';
import { findTenantByName } from '../../tenants/tenant.repository.js';
import { appendAudit } from '../audit/audit.repository.js';
import { findDeviceId } from '../devices/device.repository.js';
import { isUniqueViolation } from '../releases/release.service.js';
import {
  countExpiring,
  type EnrollingDevice,
  expiringCertificates,
  findBirthCertificate,
  findCertificate,
  findCertificateByFingerprint,
  findEnrollingDevice,
  findEnrollmentToken,
  findManufacturingCaByFingerprint,
  getBearerTokensAllowed,
  insertActiveCertificate,
  insertBirthCertificate,
  insertEnrolledDevice,
  insertEnrollmentToken,
  insertManufacturingCa,
  listCertificates,
  listManufacturingCas,
  lockDeviceForIssuance,
  nextCrlNumber,
  removeManufacturingCa,
  revokeCertificates,
  revokedUnexpired,
  setAdmission,
  setBearerTokensAllowed,
  upsertTenantCa,
  usedKeysOfDevice,
  useEnrollmentToken,
} from './pki.repository.js';
import type {
  CertificateIssuance,
  DeviceAdmission,
  DeviceCertificateState,
  DeviceCertificateTable,
  PkiManufacturingCaTable,
} from './pki.table.js';
import {
  type CaKeyBox,
  certificateFingerprint,
  loadOrCreateTenantCa,
  loadTenantCaCertificate,
  type TenantCa,
  type TenantCaCertificate,
} from './tenant-ca.js';

const DAY_MS = 86_400_000;
/** What `updraft_pki_certificates_expiring` counts: active certificates expiring within this. */
export const EXPIRING_WITHIN_DAYS = 30;
const CRL_VALID_HOURS = 24;
// A cached CRL is reissued once less than this is left before its nextUpdate.
const CRL_REFRESH_BEFORE_MS = 12 * 3_600_000;
const ENROLLMENT_TOKEN_PREFIX = 'updraft_enroll_';
/** Retry-After of {@link issuanceConflict}: the other issuance has committed by then. */
export const ISSUANCE_CONFLICT_RETRY_AFTER_SECONDS = 5;
const MAX_CERTIFICATE_PEM = 64 * 1024;

/** Who is enrolling, for the audit entry EST writes (EST routes are not management routes). */
export interface EstCaller {
  readonly ip: string;
  readonly requestId: string;
}

/** What an enrollment answers: the new certificate, or "pending, ask again later". */
export type EnrollmentResult =
  | { readonly kind: 'issued'; readonly certificatePem: string; readonly deviceId: string }
  | { readonly kind: 'pending'; readonly retryAfterSeconds: number; readonly deviceId: string };

/** A certificate of the inventory as the API shows it. */
export interface DeviceCertificateView {
  readonly id: string;
  readonly deviceId: string;
  readonly serial: string;
  readonly fingerprint: string;
  readonly spkiFingerprint: string;
  readonly subject: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly issuedAt: string;
  readonly issuedVia: string;
  readonly state: string;
  readonly supersededAt: string | null;
  readonly revokedAt: string | null;
  readonly revocationReason: string | null;
  readonly certificatePem: string;
}

/** A registered manufacturing CA as the API shows it. */
export interface ManufacturingCaView {
  readonly id: string;
  readonly name: string;
  readonly subject: string;
  readonly fingerprint: string;
  readonly notAfter: string;
  readonly autoAccept: boolean;
  readonly deviceClassId: string;
  readonly createdAt: string;
  readonly removedAt: string | null;
  readonly certificatePem: string;
}

/** The tenant's issuing CA as the API shows it (never its key). */
export interface TenantCaView {
  readonly certificatePem: string;
  readonly chainPem: string;
  readonly fingerprint: string;
  readonly source: string;
  readonly notAfter: string;
  readonly subject: string;
}

function certificateView(row: DeviceCertificateTable): DeviceCertificateView {
  return {
    id: row.id,
    deviceId: row.device_id,
    serial: row.serial,
    fingerprint: row.fingerprint,
    spkiFingerprint: row.spki_fingerprint,
    subject: new X509Certificate(row.certificate_pem).subject.replaceAll('\n', ', '),
    notBefore: row.not_before,
    notAfter: row.not_after,
    issuedAt: row.issued_at,
    issuedVia: row.issued_via,
    state: row.state,
    supersededAt: row.superseded_at,
    revokedAt: row.revoked_at,
    revocationReason: row.revocation_reason,
    certificatePem: row.certificate_pem,
  };
}

function manufacturingCaView(row: PkiManufacturingCaTable): ManufacturingCaView {
  return {
    id: row.id,
    name: row.name,
    subject: row.subject,
    fingerprint: row.fingerprint,
    notAfter: row.not_after,
    autoAccept: Number(row.auto_accept) === 1,
    deviceClassId: row.device_class_id,
    createdAt: row.created_at,
    removedAt: row.removed_at,
    certificatePem: row.certificate_pem,
  };
}

function tokenRefused(reason: 'unknown' | 'used' | 'expired' | 'device-mismatch'): PkiError {
  return new PkiError(
    'PKI_ENROLLMENT_TOKEN_INVALID',
    'the enrollment token is unknown, used, expired or for another device',
    { details: { reason } },
  );
}

function reenrollRefused(reason: string): PkiError {
  return new PkiError(
    'PKI_REENROLL_REFUSED',
    'simplereenroll needs the current operational certificate as TLS client certificate',
    { details: { reason } },
  );
}

/**
 * A concurrent issuance for the device stored its certificate first (only reachable when that one
 * did not take the device lock, e.g. a replica of an older version during a rolling upgrade): a
 * 503 with Retry-After, which EST clients retry, rather than a 4xx they give up on.
 */
function issuanceConflict(deviceId: string): PkiError {
  return new PkiError(
    'PKI_CERTIFICATE_ISSUANCE_CONFLICT',
    'another certificate was issued for this device at the same moment; retry',
    {
      details: {
        reason: 'concurrent-issuance',
        deviceId,
        retryAfterSeconds: ISSUANCE_CONFLICT_RETRY_AFTER_SECONDS,
      },
      // A 503 that is no fault: the device is told what happened and when to retry.
      exposable: true,
    },
  );
}

function hashesEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The subject CN of a PEM certificate (the last CN when several), or undefined. */
function commonName(pem: string): string | undefined {
  const lines = new X509Certificate(pem).subject.split('\n');
  return lines
    .filter((l) => l.startsWith('CN='))
    .map((l) => l.slice(3))
    .at(-1);
}

/**
 * Device identity: enrollment over EST (token, birth certificate, re-enrollment), the tenant CA,
 * manufacturing CAs, the certificate inventory, revocation and the CRL, enrollment tokens, PKI
 * settings and device admission. Management changes run through the route's {@link AuditedRun};
 * EST writes its own audit entries (an enrolling device is no management caller).
 */
export class PkiService {
  readonly #crls = new Map<
    string,
    { number: number; fingerprint: string; der: Uint8Array; nextUpdate: number }
  >();

  constructor(
    private readonly deps: {
      readonly db: Kysely<Database>;
      readonly support: Pick<DialectSupport, 'supportsConcurrentWriters'>;
      readonly box: CaKeyBox;
      readonly config: ServerConfig['pki'];
      readonly metrics: Metrics;
      readonly now: () => Date;
    },
  ) {
    deps.metrics.setCertificatesExpiringSource(async () => {
      const now = this.deps.now();
      return countExpiring(
        this.deps.db,
        now.toISOString(),
        new Date(now.getTime() + EXPIRING_WITHIN_DAYS * DAY_MS).toISOString(),
      );
    });
  }

  /**
   * The tenant's issuing CA, created (under a self-made root) on first use. Read from the database
   * each time, so an import on another replica takes effect at once.
   */
  async ca(tenantId: string): Promise<TenantCa> {
    const tenant = await this.deps.db
      .selectFrom('tenants')
      .select('name')
      .where('id', '=', tenantId)
      .executeTakeFirst();
    if (tenant === undefined) throw new ServerError('RESOURCE_NOT_FOUND', `no tenant ${tenantId}`);
    return loadOrCreateTenantCa(
      this.deps.db,
      this.deps.box,
      tenantId,
      tenant.name,
      this.deps.now(),
    );
  }

  /**
   * The tenant's issuing CA without its key, for public reads (EST `cacerts`, the CRL when its
   * cached copy is current, the CA view): the sealed key is neither read nor opened. A tenant
   * without a CA yet gets one created here (first use), like {@link ca}.
   */
  async #caCertificate(tenantId: string): Promise<TenantCaCertificate> {
    const stored = await loadTenantCaCertificate(this.deps.db, tenantId);
    if (stored !== undefined) return stored;
    await this.ca(tenantId);
    const created = await loadTenantCaCertificate(this.deps.db, tenantId);
    if (created === undefined) throw new BugError(`tenant ${tenantId}: issuing CA not stored`);
    return created;
  }

  /** The id of the tenant called `name` (the EST and CRL URL label). */
  async tenantIdByName(name: string): Promise<string> {
    const tenant = await findTenantByName(this.deps.db, name);
    if (tenant === undefined) throw new ServerError('RESOURCE_NOT_FOUND', `no tenant ${name}`);
    return tenant.id;
  }

  /** The CA chain devices pin (issuing CA then up to the root), as PEM and as EST certs-only. */
  async caView(tenantId: string): Promise<TenantCaView> {
    const ca = await this.#caCertificate(tenantId);
    return {
      certificatePem: ca.certificatePem,
      chainPem: ca.chainPem,
      fingerprint: ca.fingerprint,
      source: ca.source,
      notAfter: ca.notAfter,
      subject: describeCertificate(ca.certificatePem).subject,
    };
  }

  /** EST `cacerts`: the chain as PKCS#7 certs-only (DER). */
  async caCerts(tenantId: string): Promise<Uint8Array> {
    return certsOnlyPkcs7([(await this.#caCertificate(tenantId)).chainPem]);
  }

  /** One certificate as PKCS#7 certs-only (DER): what `simpleenroll` answers. */
  certsOnly(certificatePem: string): Uint8Array {
    return certsOnlyPkcs7([certificatePem]);
  }

  // ---- enrollment (EST)

  /** `simpleenroll` with HTTP Basic `<device name>:<one-time token>`. */
  async enrollWithToken(
    tenantId: string,
    caller: EstCaller,
    deviceName: string,
    token: string,
    csr: Uint8Array,
  ): Promise<EnrollmentResult> {
    const now = this.deps.now();
    if (!token.startsWith(ENROLLMENT_TOKEN_PREFIX) || token.length > 200)
      throw tokenRefused('unknown');
    const hash = hashToken(token);
    const row = await findEnrollmentToken(this.deps.db, tenantId, hash);
    if (row === undefined || !hashesEqual(row.token_hash, hash)) throw tokenRefused('unknown');
    const device = await findEnrollingDevice(this.deps.db, tenantId, { id: row.device_id });
    if (device === undefined || device.name !== deviceName) throw tokenRefused('device-mismatch');
    if (row.used_at !== null) throw tokenRefused('used');
    if (row.expires_at <= now.toISOString()) throw tokenRefused('expired');
    this.#checkAdmitted(device);
    return this.#issue(tenantId, caller, device, csr, 'est-token', async (trx) => {
      // One use: marked in the transaction that stores the certificate; a concurrent use loses.
      if (!(await useEnrollmentToken(trx, row.id, now.toISOString()))) throw tokenRefused('used');
    });
  }

  /**
   * `simpleenroll` with a birth certificate from a registered manufacturing CA as the TLS client
   * certificate (`peer`: leaf first, as presented). An unknown device is registered by the birth
   * certificate's CN in the manufacturing CA's class, `pending` unless the CA auto-accepts.
   */
  async enrollWithBirthCertificate(
    tenantId: string,
    caller: EstCaller,
    peer: readonly string[],
    csr: Uint8Array,
  ): Promise<EnrollmentResult> {
    const now = this.deps.now();
    const [leaf, ...presented] = peer;
    if (leaf === undefined) throw new ServerError('AUTH_UNAUTHENTICATED', 'no client certificate');
    const cas = await listManufacturingCas(this.deps.db, tenantId);
    if (cas.length === 0)
      throw new PkiError('PKI_UNTRUSTED', 'the tenant has no manufacturing CA registered');
    const verified = verifyCertificateChain(
      leaf,
      presented,
      cas.map((c) => c.certificate_pem),
      now,
    );
    if (!verified.ok) throw verified.error;
    const anchor = certificateFingerprint(verified.chain.at(-1)!);
    const ca = cas.find((c) => c.fingerprint === anchor);
    if (ca === undefined) throw new BugError('verified chain ends at an unregistered CA');
    const birthFingerprint = certificateFingerprint(leaf);
    const birthKey = spkiFingerprint(leaf);
    const known = await findBirthCertificate(this.deps.db, birthFingerprint);
    if (known !== undefined && known.tenant_id !== tenantId)
      throw new PkiError('PKI_UNTRUSTED', 'this birth certificate belongs to another tenant');
    let device =
      known && (await findEnrollingDevice(this.deps.db, tenantId, { id: known.device_id }));
    if (device === undefined) {
      try {
        device = await this.#registerByBirth(tenantId, caller, leaf, ca, {
          fingerprint: birthFingerprint,
          spki: birthKey,
          now: now.toISOString(),
        });
      } catch (error) {
        // Two first enrollments with one birth certificate: the loser finds the winner's device.
        const winner = await findBirthCertificate(this.deps.db, birthFingerprint);
        if (winner === undefined || winner.tenant_id !== tenantId) throw error;
        device = await findEnrollingDevice(this.deps.db, tenantId, { id: winner.device_id });
        if (device === undefined) throw error;
      }
    }
    if (device.admission === 'pending')
      return {
        kind: 'pending',
        retryAfterSeconds: this.deps.config.pendingRetryAfterSeconds,
        deviceId: device.id,
      };
    this.#checkAdmitted(device);
    return this.#issue(tenantId, caller, device, csr, 'est-birth');
  }

  /**
   * `simplereenroll`: the TLS client certificate must be the device's current operational
   * certificate (or one superseded within `pki.rotationGraceSeconds`), valid and chaining to the
   * tenant CA; the CSR's key must be one the device never had certified.
   */
  async reenroll(
    tenantId: string,
    caller: EstCaller,
    peer: readonly string[],
    csr: Uint8Array,
  ): Promise<EnrollmentResult> {
    const now = this.deps.now();
    const leaf = peer[0];
    if (leaf === undefined) throw reenrollRefused('missing');
    let fingerprint: string;
    try {
      fingerprint = certificateFingerprint(leaf);
    } catch {
      throw reenrollRefused('unknown');
    }
    const row = await findCertificateByFingerprint(this.deps.db, tenantId, fingerprint);
    if (row === undefined) throw reenrollRefused('unknown');
    if (row.state === 'revoked') throw reenrollRefused('revoked');
    if (row.state === 'superseded') {
      const since = now.getTime() - Date.parse(row.superseded_at ?? '');
      if (!(since <= this.deps.config.rotationGraceSeconds * 1000))
        throw reenrollRefused('superseded');
    }
    const ca = await this.ca(tenantId);
    const verified = verifyCertificateChain(leaf, [], [ca.certificatePem], now);
    if (!verified.ok) {
      const reason =
        verified.error.code === 'PKI_EXPIRED'
          ? 'expired'
          : verified.error.code === 'PKI_NOT_YET_VALID'
            ? 'not-yet-valid'
            : 'untrusted-chain';
      throw reenrollRefused(reason);
    }
    const device = await findEnrollingDevice(this.deps.db, tenantId, { id: row.device_id });
    if (device === undefined) throw reenrollRefused('unknown');
    this.#checkAdmitted(device);
    return this.#issue(tenantId, caller, device, csr, 'est-reenroll', undefined, ca);
  }

  #checkAdmitted(device: EnrollingDevice): void {
    if (device.decommissioned || device.admission !== 'accepted')
      throw new PkiError(
        'PKI_DEVICE_NOT_ADMITTED',
        device.decommissioned
          ? 'the device is decommissioned'
          : `the device's admission is ${device.admission}`,
        { details: { deviceId: device.id, admission: device.admission } },
      );
  }

  async #registerByBirth(
    tenantId: string,
    caller: EstCaller,
    leaf: string,
    ca: PkiManufacturingCaTable,
    birth: { fingerprint: string; spki: string; now: string },
  ): Promise<EnrollingDevice> {
    const name = commonName(leaf);
    if (name === undefined || name.length === 0 || name.length > 64)
      throw new PkiError('PKI_INPUT_INVALID', 'the birth certificate has no usable subject CN');
    const admission: DeviceAdmission = Number(ca.auto_accept) === 1 ? 'accepted' : 'pending';
    const existing = await findEnrollingDevice(this.deps.db, tenantId, { name });
    return this.deps.db.transaction().execute(async (trx) => {
      let device: EnrollingDevice;
      if (existing !== undefined) {
        // A pre-registered device of the CA's class claims its birth certificate once.
        const claimed = await trx
          .selectFrom('device_birth_certificates')
          .select('fingerprint')
          .where('device_id', '=', existing.id)
          .executeTakeFirst();
        if (claimed !== undefined || existing.deviceClassId !== ca.device_class_id)
          throw new ServerError(
            'RESOURCE_CONFLICT',
            `a device named ${name} exists with another birth certificate or class`,
          );
        device = existing;
      } else {
        device = {
          id: newId('dev'),
          name,
          admission,
          decommissioned: false,
          deviceClassId: ca.device_class_id,
        };
        await insertEnrolledDevice(trx, { tenantId, ...device, admission }, birth.now);
      }
      await insertBirthCertificate(trx, {
        fingerprint: birth.fingerprint,
        tenant_id: tenantId,
        device_id: device.id,
        manufacturing_ca_id: ca.id,
        spki_fingerprint: birth.spki,
        subject: new X509Certificate(leaf).subject.replaceAll('\n', ', '),
        serial: describeCertificate(leaf).serialNumber,
        first_seen_at: birth.now,
      });
      await appendAudit(
        trx,
        {
          tenantId,
          actorType: 'device',
          actorId: device.id,
          action: existing ? 'pki.birth-certificate.claim' : 'device.register',
          resourceType: 'device',
          resourceId: device.id,
          change: {
            name,
            admission: device.admission,
            manufacturingCaId: ca.id,
            birthFingerprint: birth.fingerprint,
          },
          ip: caller.ip,
          outcome: 'success',
          status: device.admission === 'pending' ? 202 : 200,
          requestId: caller.requestId,
        },
        birth.now,
      );
      return device;
    });
  }

  async #issue(
    tenantId: string,
    caller: EstCaller,
    device: EnrollingDevice,
    csr: Uint8Array,
    via: CertificateIssuance,
    inTransaction?: (trx: Transaction<Database>) => Promise<void>,
    // The tenant CA when the caller has just read it (reenroll): one read and key unseal per request.
    loadedCa?: TenantCa,
  ): Promise<EnrollmentResult> {
    const now = this.deps.now();
    const ca = loadedCa ?? (await this.ca(tenantId));
    const certificatePem = await issueDeviceCertificate(ca, csr, {
      deviceName: device.name,
      deviceId: device.id,
      tenantId,
      validityDays: this.deps.config.deviceCertificateDays,
      now,
      forbiddenKeys: await usedKeysOfDevice(this.deps.db, device.id),
    });
    const described = describeCertificate(certificatePem);
    const row: DeviceCertificateTable = {
      id: newId('crt'),
      tenant_id: tenantId,
      device_id: device.id,
      serial: described.serialNumber,
      fingerprint: certificateFingerprint(certificatePem),
      spki_fingerprint: described.fingerprint,
      certificate_pem: certificatePem,
      not_before: described.notBefore,
      not_after: described.notAfter,
      issued_at: now.toISOString(),
      issued_via: via,
      state: 'active',
      superseded_at: null,
      revoked_at: null,
      revocation_reason: null,
      revoked_by: null,
    };
    try {
      await this.deps.db.transaction().execute(async (trx) => {
        // One issuance per device at a time: the lock is held until commit (docs/pki.md).
        await lockDeviceForIssuance(trx, this.deps.support, tenantId, device.id);
        await inTransaction?.(trx);
        // A concurrent issuance may have certified this key while this one was signing.
        if ((await usedKeysOfDevice(trx, device.id)).includes(row.spki_fingerprint))
          throw new PkiError(
            'PKI_KEY_REUSED',
            'the request reuses a key that must not be certified again',
            { details: { fingerprint: row.spki_fingerprint } },
          );
        await insertActiveCertificate(trx, row);
        await appendAudit(
          trx,
          {
            tenantId,
            actorType: 'device',
            actorId: device.id,
            action: 'pki.certificate.issue',
            resourceType: 'certificate',
            resourceId: row.id,
            change: { deviceId: device.id, serial: row.serial, via, notAfter: row.not_after },
            ip: caller.ip,
            outcome: 'success',
            status: 200,
            requestId: caller.requestId,
          },
          row.issued_at,
        );
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw issuanceConflict(device.id);
      throw error;
    }
    this.deps.metrics.pkiEnrollments.inc({ method: ENROLLMENT_METHOD[via] });
    return { kind: 'issued', certificatePem, deviceId: device.id };
  }

  // ---- enrollment tokens

  /** A one-time enrollment token for a device (shown once; only its SHA-256 is stored). */
  async createEnrollmentToken(
    audit: AuditedRun,
    tenantId: string,
    actorId: string,
    input: { device: string; expiresInSeconds?: number },
  ): Promise<{ token: string; expiresAt: string; deviceId: string }> {
    const deviceId = await this.#deviceId(tenantId, input.device);
    const now = this.deps.now();
    const ttl = input.expiresInSeconds ?? this.deps.config.enrollmentTokenTtlSeconds;
    const token = `${ENROLLMENT_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    const expiresAt = new Date(now.getTime() + ttl * 1000).toISOString();
    const id = newId('enr');
    await audit(async (trx) => {
      await insertEnrollmentToken(trx, {
        id,
        tenant_id: tenantId,
        device_id: deviceId,
        token_hash: hashToken(token),
        created_at: now.toISOString(),
        created_by: actorId,
        expires_at: expiresAt,
        used_at: null,
      });
      return { result: undefined, resourceId: id, change: { deviceId, expiresAt } };
    }, 201);
    return { token, expiresAt, deviceId };
  }

  // ---- manufacturing CAs

  async addManufacturingCa(
    audit: AuditedRun,
    tenantId: string,
    actorId: string,
    input: { certificatePem: string; name?: string; autoAccept?: boolean; deviceClass: string },
  ): Promise<ManufacturingCaView> {
    if (input.certificatePem.length > MAX_CERTIFICATE_PEM)
      throw new PkiError('PKI_INPUT_INVALID', 'the certificate is too large');
    const description = describeCertificate(input.certificatePem);
    if (!description.isCa)
      throw new PkiError('PKI_INPUT_INVALID', 'a manufacturing CA must be a CA certificate');
    const deviceClass = await this.deps.db
      .selectFrom('device_classes')
      .select('id')
      .where('tenant_id', '=', tenantId)
      .where((eb) => eb.or([eb('id', '=', input.deviceClass), eb('name', '=', input.deviceClass)]))
      .executeTakeFirst();
    if (deviceClass === undefined)
      throw new ServerError('RESOURCE_NOT_FOUND', `no device class ${input.deviceClass}`);
    const fingerprint = certificateFingerprint(input.certificatePem);
    const existing = await findManufacturingCaByFingerprint(this.deps.db, tenantId, fingerprint);
    if (existing !== undefined)
      throw new ServerError('RESOURCE_CONFLICT', 'this manufacturing CA is already registered', {
        details: { id: existing.id },
      });
    const row: PkiManufacturingCaTable = {
      id: newId('mca'),
      tenant_id: tenantId,
      name: input.name ?? description.subject.replaceAll('\n', ', ').slice(0, 200),
      certificate_pem: input.certificatePem,
      fingerprint,
      subject: description.subject.replaceAll('\n', ', '),
      not_after: description.notAfter,
      auto_accept: input.autoAccept === true ? 1 : 0,
      device_class_id: deviceClass.id,
      created_at: this.deps.now().toISOString(),
      created_by: actorId,
      removed_at: null,
    };
    await audit(async (trx) => {
      await insertManufacturingCa(trx, row);
      return {
        result: undefined,
        resourceId: row.id,
        change: {
          name: row.name,
          fingerprint,
          subject: row.subject,
          autoAccept: input.autoAccept === true,
          deviceClassId: row.device_class_id,
        },
      };
    }, 201);
    return manufacturingCaView(row);
  }

  async listManufacturingCas(tenantId: string): Promise<ManufacturingCaView[]> {
    return (await listManufacturingCas(this.deps.db, tenantId)).map(manufacturingCaView);
  }

  async removeManufacturingCa(audit: AuditedRun, tenantId: string, id: string): Promise<void> {
    await audit(async (trx) => {
      if (!(await removeManufacturingCa(trx, tenantId, id, this.deps.now().toISOString())))
        throw new ServerError('RESOURCE_NOT_FOUND', `no manufacturing CA ${id}`);
      return { result: undefined, resourceId: id, change: { removed: true } };
    });
  }

  // ---- inventory, revocation, CRL

  async listCertificates(
    tenantId: string,
    q: {
      device?: string;
      state?: DeviceCertificateState;
      expiringWithinDays?: number;
      limit: number;
      cursor?: string;
    },
  ): Promise<{ items: DeviceCertificateView[]; nextCursor: string | null }> {
    const now = this.deps.now();
    const rows = await listCertificates(this.deps.db, tenantId, {
      ...(q.device !== undefined ? { deviceId: await this.#deviceId(tenantId, q.device) } : {}),
      ...(q.state !== undefined ? { state: q.state } : {}),
      ...(q.expiringWithinDays !== undefined
        ? {
            expiringBefore: new Date(now.getTime() + q.expiringWithinDays * DAY_MS).toISOString(),
          }
        : {}),
      ...(q.cursor !== undefined ? { after: decodeCursor(q.cursor) } : {}),
      limit: q.limit + 1,
    });
    const page = rows.slice(0, q.limit);
    const last = page.at(-1);
    return {
      items: page.map(certificateView),
      nextCursor:
        rows.length > q.limit && last !== undefined
          ? Buffer.from(JSON.stringify([last.issued_at, last.id])).toString('base64url')
          : null,
    };
  }

  /** One certificate by id or serial, or failing that, the newest certificate of a device. */
  async getCertificate(tenantId: string, ref: string): Promise<DeviceCertificateView> {
    const row = await findCertificate(this.deps.db, tenantId, ref);
    if (row !== undefined) return certificateView(row);
    const deviceId = await findDeviceId(this.deps.db, tenantId, ref);
    if (deviceId !== undefined) {
      const [newest] = await listCertificates(this.deps.db, tenantId, { deviceId, limit: 1 });
      if (newest !== undefined) return certificateView(newest);
    }
    throw new ServerError('RESOURCE_NOT_FOUND', `no certificate or device ${ref}`);
  }

  /** Revokes one certificate (by id or serial). */
  async revoke(
    audit: AuditedRun,
    tenantId: string,
    actorId: string,
    ref: string,
    reason: RevocationReason,
  ): Promise<DeviceCertificateView> {
    const row = await findCertificate(this.deps.db, tenantId, ref);
    if (row === undefined) throw new ServerError('RESOURCE_NOT_FOUND', `no certificate ${ref}`);
    if (row.state === 'revoked')
      throw new ServerError('RESOURCE_CONFLICT', `certificate ${row.serial} is already revoked`);
    await this.#revoke(audit, tenantId, actorId, { certificateId: row.id }, reason, row.id);
    return this.getCertificate(tenantId, row.id);
  }

  /** Revokes every certificate of a device not yet revoked; answers how many. */
  async revokeDevice(
    audit: AuditedRun,
    tenantId: string,
    actorId: string,
    device: string,
    reason: RevocationReason,
  ): Promise<{ revoked: number }> {
    const deviceId = await this.#deviceId(tenantId, device);
    const ids = await this.#revoke(audit, tenantId, actorId, { deviceId }, reason, deviceId);
    return { revoked: ids.length };
  }

  async #revoke(
    audit: AuditedRun,
    tenantId: string,
    actorId: string,
    target: { certificateId: string } | { deviceId: string },
    reason: RevocationReason,
    resourceId: string,
  ): Promise<string[]> {
    const at = this.deps.now().toISOString();
    return audit(async (trx) => {
      const ids = await revokeCertificates(trx, tenantId, target, { at, reason, by: actorId });
      // A new CRL number makes every replica reissue its CRL on the next fetch.
      if (ids.length > 0) await nextCrlNumber(trx, tenantId);
      return { result: ids, resourceId, change: { certificateIds: ids, reason } };
    });
  }

  /** Active certificates expiring within `days`, soonest first. */
  async expiryReport(
    tenantId: string,
    days: number,
    limit: number,
  ): Promise<{ days: number; items: DeviceCertificateView[] }> {
    const now = this.deps.now();
    const rows = await expiringCertificates(
      this.deps.db,
      tenantId,
      now.toISOString(),
      new Date(now.getTime() + days * DAY_MS).toISOString(),
      limit,
    );
    return { days, items: rows.map(certificateView) };
  }

  /**
   * The tenant's CRL (DER), signed by its issuing CA. Every revocation and CA import moves the
   * tenant's CRL number; the CRL is reissued when the number moved or half its lifetime passed.
   * Serving the cached DER reads only the CA's public row; the key is unsealed only to sign.
   */
  async crl(tenantId: string): Promise<Uint8Array> {
    const now = this.deps.now();
    const published = await this.#caCertificate(tenantId);
    const number = published.crlNumber;
    const cached = this.#crls.get(tenantId);
    const current =
      cached !== undefined &&
      cached.number === number &&
      cached.fingerprint === published.fingerprint;
    if (current && cached.nextUpdate - now.getTime() > CRL_REFRESH_BEFORE_MS) return cached.der;
    const ca = await this.ca(tenantId);
    // A new number when this CRL is only getting old (or none was issued yet); a number moved by a
    // revocation, an import or another replica's refresh is issued as it is, so replicas do not
    // keep bumping each other's numbers.
    const issuedNumber =
      current || number === 0
        ? await this.deps.db.transaction().execute((trx) => nextCrlNumber(trx, tenantId))
        : number;
    const entries = await revokedUnexpired(this.deps.db, tenantId, now.toISOString());
    const der = await createCrl(ca, {
      crlNumber: issuedNumber,
      now,
      nextUpdateHours: CRL_VALID_HOURS,
      entries: entries.map((e) => ({
        serial: e.serial,
        revokedAt: new Date(e.revoked_at ?? now.toISOString()),
        reason: (e.revocation_reason ?? 'unspecified') as RevocationReason,
      })),
    });
    this.#crls.set(tenantId, {
      number: issuedNumber,
      fingerprint: ca.fingerprint,
      der,
      nextUpdate: now.getTime() + CRL_VALID_HOURS * 3_600_000,
    });
    return der;
  }

  // ---- settings, admission, CA import

  async settings(tenantId: string): Promise<{ bearerTokensAllowed: boolean }> {
    return { bearerTokensAllowed: await getBearerTokensAllowed(this.deps.db, tenantId) };
  }

  async setSettings(
    audit: AuditedRun,
    tenantId: string,
    actorId: string,
    settings: { bearerTokensAllowed: boolean },
  ): Promise<{ bearerTokensAllowed: boolean }> {
    await audit(async (trx) => {
      await setBearerTokensAllowed(
        trx,
        tenantId,
        settings.bearerTokensAllowed,
        this.deps.now().toISOString(),
        actorId,
      );
      return { result: undefined, resourceId: tenantId, change: { ...settings } };
    });
    return this.settings(tenantId);
  }

  /** An operator's decision on a device: `accept` lets a pending device enroll, `reject` bars it. */
  async decideAdmission(
    audit: AuditedRun,
    tenantId: string,
    device: string,
    decision: 'accept' | 'reject',
  ): Promise<{ deviceId: string; admission: DeviceAdmission }> {
    const deviceId = await this.#deviceId(tenantId, device);
    const admission: DeviceAdmission = decision === 'accept' ? 'accepted' : 'rejected';
    await audit(async (trx) => {
      if (!(await setAdmission(trx, tenantId, deviceId, admission)))
        throw new ServerError('RESOURCE_NOT_FOUND', `no device ${device}`);
      return { result: undefined, resourceId: deviceId, change: { admission } };
    });
    return { deviceId, admission };
  }

  /**
   * Imports an issuing CA (e.g. the one `updraft pki init` made under the offline root): the key
   * must be the certificate's, the certificate a CA, and the chain must lead to its last
   * certificate. Certificates issued before keep verifying only while the old CA is in devices'
   * pinned chains; new ones come from the imported CA.
   */
  async importCa(
    audit: AuditedRun,
    tenantId: string,
    input: { certificatePem: string; privateKeyPem: string; chainPem?: string },
  ): Promise<TenantCaView> {
    const sizes = [input.certificatePem, input.privateKeyPem, input.chainPem ?? ''];
    if (sizes.some((s) => s.length > MAX_CERTIFICATE_PEM))
      throw new PkiError('PKI_INPUT_INVALID', 'a PEM input is too large');
    const now = this.deps.now();
    const checked = checkImportedCa(input, input.chainPem ?? '', now);
    // Refuse a key the signing code cannot use (P-256 PKCS#8), before it replaces a working CA.
    await createCrl(input, { crlNumber: 0, entries: [], now, nextUpdateHours: 1 });
    await audit(async (trx) => {
      await upsertTenantCa(trx, {
        tenant_id: tenantId,
        certificate_pem: checked.chain[0]!,
        chain_pem: checked.chain.map((pem) => `${pem.trim()}\n`).join(''),
        private_key_box: this.deps.box.seal(input.privateKeyPem, tenantId),
        fingerprint: checked.fingerprint,
        source: 'imported',
        not_after: checked.notAfter,
        crl_number: 0,
        created_at: now.toISOString(),
      });
      await nextCrlNumber(trx, tenantId);
      return {
        result: undefined,
        resourceId: tenantId,
        change: { fingerprint: checked.fingerprint, notAfter: checked.notAfter },
      };
    });
    return this.caView(tenantId);
  }

  async #deviceId(tenantId: string, ref: string): Promise<string> {
    const id = await findDeviceId(this.deps.db, tenantId, ref);
    if (id === undefined) throw new ServerError('RESOURCE_NOT_FOUND', `no device ${ref}`);
    return id;
  }
}

const ENROLLMENT_METHOD: Readonly<Record<CertificateIssuance, 'token' | 'birth' | 'reenroll'>> = {
  'est-token': 'token',
  'est-birth': 'birth',
  'est-reenroll': 'reenroll',
};

function decodeCursor(cursor: string): { issuedAt: string; id: string } {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(value) &&
      value.length === 2 &&
      typeof value[0] === 'string' &&
      typeof value[1] === 'string'
    )
      return { issuedAt: value[0], id: value[1] };
  } catch {
    // fall through
  }
  throw new ServerError('HTTP_VALIDATION_FAILED', 'cursor is not one this API gave');
}
