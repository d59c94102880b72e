import type {
  CertificateIdentity,
  CertificateRefusalReason,
} from '../auth/certificate-identity.js';

/** Why a device certificate was refused (docs/pki.md, "Identity check on every request"). */
export type CertificateRefusal = CertificateRefusalReason;

/**
 * How the MQTT broker turns a presented chain (leaf first, PEM) into a device; by default
 * `identifyDeviceCertificate` (auth/certificate-identity.ts), the same check as the device API.
 */
export type IdentifyDeviceCertificate = (
  chainPem: readonly string[],
  now: Date,
) => Promise<CertificateIdentity>;
