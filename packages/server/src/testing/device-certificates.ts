// @peculiar/x509 resolves its algorithm providers through tsyringe, which needs the Reflect API.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { Kysely } from 'kysely';
import { newId } from '../auth/secrets.js';
import type { Database } from '../db/database.js';
import type { DeviceCertificateState } from '../features/pki/pki.table.js';
import {
  CaKeyBox,
  certificateFingerprint,
  loadOrCreateTenantCa,
} from '../features/pki/tenant-ca.js';
import { describeCertificate, issueDeviceCertificate, type PkiKeyPair } from '../pki/pki.js';

const EC: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };

/** A device certificate and its key, as a device holds them. */
export interface TestDeviceCertificate {
  /** `device_certificates.id`, or `undefined` when not stored. */
  readonly id: string | undefined;
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  readonly fingerprint: string;
}

export interface TestDeviceCertificateOptions {
  /** Issue at this time (a past `now` with few days makes an expired certificate). */
  readonly now?: Date;
  readonly validityDays?: number;
  /** Another CA than the tenant's (a wrong-CA certificate). */
  readonly issuer?: PkiKeyPair;
  /** CN and device id written into the certificate (default: the device's own). */
  readonly deviceName?: string;
  readonly deviceIdInCertificate?: string;
  /** Stored inventory state (default `active`); `store: false` keeps it out of the inventory. */
  readonly state?: DeviceCertificateState;
  readonly supersededAt?: string;
  readonly store?: boolean;
}

/**
 * Issues an operational certificate for a device with a fresh P-256 key, signed by the tenant's
 * issuing CA (created if missing, sealed with `caKey`) or `options.issuer`, and stores it in
 * `device_certificates` like enrollment will. For tests of the identity rules and mTLS.
 */
export async function issueTestDeviceCertificate(
  db: Kysely<Database>,
  caKey: Uint8Array,
  device: { readonly tenantId: string; readonly deviceId: string; readonly deviceName: string },
  options: TestDeviceCertificateOptions = {},
): Promise<TestDeviceCertificate> {
  const now = options.now ?? new Date();
  const issuer =
    options.issuer ??
    (await loadOrCreateTenantCa(db, new CaKeyBox(caKey), device.tenantId, device.tenantId, now));
  const keys = (await webcrypto.subtle.generateKey(EC, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    { name: 'CN=ignored', keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } },
    webcrypto,
  );
  const certificatePem = await issueDeviceCertificate(issuer, csr.toString('pem'), {
    tenantId: device.tenantId,
    deviceName: options.deviceName ?? device.deviceName,
    deviceId: options.deviceIdInCertificate ?? device.deviceId,
    validityDays: options.validityDays ?? 30,
    now,
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const privateKeyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END PRIVATE KEY-----\n`;
  const fingerprint = certificateFingerprint(certificatePem);
  if (options.store === false) {
    return { id: undefined, certificatePem, privateKeyPem, fingerprint };
  }
  const described = describeCertificate(certificatePem);
  const id = newId('crt');
  const state = options.state ?? 'active';
  // Like enrollment: a new active certificate supersedes the device's active one (a device has at
  // most one, migration 20261203150000-device-certificates-one-active).
  if (state === 'active')
    await db
      .updateTable('device_certificates')
      .set({ state: 'superseded', superseded_at: new Date().toISOString() })
      .where('tenant_id', '=', device.tenantId)
      .where('device_id', '=', device.deviceId)
      .where('state', '=', 'active')
      .execute();
  await db
    .insertInto('device_certificates')
    .values({
      id,
      tenant_id: device.tenantId,
      device_id: device.deviceId,
      serial: described.serialNumber,
      fingerprint,
      spki_fingerprint: described.fingerprint,
      certificate_pem: certificatePem,
      not_before: described.notBefore,
      not_after: described.notAfter,
      issued_at: now.toISOString(),
      issued_via: 'est-token',
      state,
      superseded_at: options.supersededAt ?? null,
      revoked_at: options.state === 'revoked' ? now.toISOString() : null,
      revocation_reason: options.state === 'revoked' ? 'keyCompromise' : null,
      revoked_by: null,
    })
    .execute();
  return { id, certificatePem, privateKeyPem, fingerprint };
}
