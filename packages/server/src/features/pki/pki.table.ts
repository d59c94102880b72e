/*
 * Tables of device identity (docs/pki.md, migration 20261203140000-pki). Timestamps ISO 8601 UTC;
 * fingerprints are lowercase hex SHA-256 (`fingerprint`: of the certificate's DER;
 * `spki_fingerprint`: of its SubjectPublicKeyInfo, see `spkiFingerprint`); serials lowercase hex.
 */

/** A device's admission (`devices.admission`): only `accepted` devices may use the device API. */
export const DEVICE_ADMISSIONS = ['pending', 'accepted', 'rejected'] as const;
export type DeviceAdmission = (typeof DEVICE_ADMISSIONS)[number];

/** The tenant's online issuing CA (generated on first start, or imported). */
export interface PkiTenantCaTable {
  tenant_id: string;
  /** The issuing CA certificate. */
  certificate_pem: string;
  /** The issuing CA then every CA above it up to and including the root (what devices pin). */
  chain_pem: string;
  /** The issuing CA's PKCS#8 private key sealed with the master-key-derived key `pki-ca-key`. */
  private_key_box: string;
  fingerprint: string;
  /** `generated` (first start, under a self-made root) or `imported` (`updraft pki init` or an external CA). */
  source: string;
  not_after: string;
  /** The last CRL number issued (monotonic per tenant). */
  crl_number: number;
  created_at: string;
}

/** A manufacturing CA whose birth certificates may enroll devices of the tenant. */
export interface PkiManufacturingCaTable {
  id: string;
  tenant_id: string;
  name: string;
  certificate_pem: string;
  fingerprint: string;
  subject: string;
  not_after: string;
  /** 1: a device unknown to the tenant presenting a birth certificate is accepted at once; 0: `pending`. */
  auto_accept: number;
  /** The class of devices registered by their birth certificate. */
  device_class_id: string;
  created_at: string;
  created_by: string | null;
  /** Set when removed: its birth certificates no longer enroll (rows kept for the audit trail). */
  removed_at: string | null;
}

/** A birth (claim) certificate a device presented at enrollment; its key may never be certified. */
export interface DeviceBirthCertificateTable {
  fingerprint: string;
  tenant_id: string;
  device_id: string;
  manufacturing_ca_id: string;
  spki_fingerprint: string;
  subject: string;
  serial: string;
  first_seen_at: string;
}

/** States of an operational certificate (`device_certificates.state`). */
export const DEVICE_CERTIFICATE_STATES = ['active', 'superseded', 'revoked'] as const;
export type DeviceCertificateState = (typeof DEVICE_CERTIFICATE_STATES)[number];

/** How an operational certificate was issued (`device_certificates.issued_via`). */
export const CERTIFICATE_ISSUANCES = ['est-token', 'est-birth', 'est-reenroll'] as const;
export type CertificateIssuance = (typeof CERTIFICATE_ISSUANCES)[number];

/** An operational certificate issued by the tenant's issuing CA: the certificate inventory. */
export interface DeviceCertificateTable {
  /** `crt_…` */
  id: string;
  tenant_id: string;
  device_id: string;
  serial: string;
  fingerprint: string;
  spki_fingerprint: string;
  certificate_pem: string;
  not_before: string;
  not_after: string;
  issued_at: string;
  issued_via: string;
  /** `active` (newest), `superseded` (a newer one was issued; accepted for `pki.rotationGraceSeconds`), `revoked`. */
  state: string;
  superseded_at: string | null;
  revoked_at: string | null;
  /** RFC 5280 reason name, e.g. `keyCompromise`, `superseded`, `cessationOfOperation`, `unspecified`. */
  revocation_reason: string | null;
  revoked_by: string | null;
}

/** A one-time enrollment token (stored as SHA-256, like every secret). */
export interface EnrollmentTokenTable {
  id: string;
  tenant_id: string;
  device_id: string;
  token_hash: string;
  created_at: string;
  created_by: string | null;
  expires_at: string;
  used_at: string | null;
}

/** Per-tenant PKI settings. */
export interface PkiSettingsTable {
  tenant_id: string;
  /** 0: devices must use mTLS; bearer device tokens are refused on the device API. */
  bearer_tokens_allowed: number;
  updated_at: string;
  updated_by: string | null;
}

declare module '../../db/database.js' {
  interface Database {
    pki_tenant_cas: PkiTenantCaTable;
    pki_manufacturing_cas: PkiManufacturingCaTable;
    device_birth_certificates: DeviceBirthCertificateTable;
    device_certificates: DeviceCertificateTable;
    enrollment_tokens: EnrollmentTokenTable;
    pki_settings: PkiSettingsTable;
  }
}
