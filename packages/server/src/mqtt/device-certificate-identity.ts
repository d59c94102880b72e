import { createHash, X509Certificate } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { verifyCertificateChain } from '../pki/pki.js';

/** Why a device certificate was refused (docs/pki.md, "Identity check on every request"). */
export type CertificateRefusal =
  | 'unknown'
  | 'revoked'
  | 'expired'
  | 'not-yet-valid'
  | 'untrusted-chain'
  | 'device-mismatch'
  | 'device-not-accepted';

/** The device a verified certificate stands for. */
export interface IdentifiedDevice {
  readonly tenantId: string;
  readonly deviceId: string;
  readonly deviceName: string;
  readonly deviceClassId: string;
  readonly certificateId: string;
}

export type CertificateIdentity =
  | { readonly ok: true; readonly device: IdentifiedDevice }
  | { readonly ok: false; readonly reason: CertificateRefusal };

/** How the MQTT broker turns a presented chain (leaf first, PEM) into a device. */
export type IdentifyDeviceCertificate = (
  chainPem: readonly string[],
  now: Date,
) => Promise<CertificateIdentity>;

/**
 * Interim stand-in with the signature of h/tls's `identifyDeviceCertificate`
 * (auth/certificate-identity.ts), which the lead wires instead when integrating: the leaf's
 * fingerprint must be a `device_certificates` row (active, or superseded within the grace),
 * chaining to the tenant's CA, valid at `now`, CN = the device's name, the device accepted and
 * not decommissioned. Default-deny: every path that is not the last returns a refusal.
 */
export async function identifyDeviceCertificateInterim(
  db: Kysely<Database>,
  chainPem: readonly string[],
  now: Date,
  options: { readonly rotationGraceSeconds: number },
): Promise<CertificateIdentity> {
  const leafPem = chainPem[0];
  if (leafPem === undefined) return { ok: false, reason: 'unknown' };
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(leafPem);
  } catch {
    return { ok: false, reason: 'unknown' };
  }
  const fingerprint = createHash('sha256').update(leaf.raw).digest('hex');
  const row = await db
    .selectFrom('device_certificates as c')
    .innerJoin('devices as d', (j) =>
      j.onRef('d.id', '=', 'c.device_id').onRef('d.tenant_id', '=', 'c.tenant_id'),
    )
    .innerJoin('pki_tenant_cas as ca', 'ca.tenant_id', 'c.tenant_id')
    .select([
      'c.id as certificateId',
      'c.state',
      'c.superseded_at as supersededAt',
      'd.id as deviceId',
      'd.tenant_id as tenantId',
      'd.name as deviceName',
      'd.device_class_id as deviceClassId',
      'd.admission',
      'd.decommissioned_at as decommissionedAt',
      'ca.chain_pem as caChain',
    ])
    .where('c.fingerprint', '=', fingerprint)
    .executeTakeFirst();
  if (row === undefined) return { ok: false, reason: 'unknown' };
  if (row.state === 'revoked') return { ok: false, reason: 'revoked' };
  if (row.state === 'superseded') {
    const until = Date.parse(row.supersededAt ?? '') + options.rotationGraceSeconds * 1000;
    if (!(now.getTime() < until)) return { ok: false, reason: 'revoked' };
  } else if (row.state !== 'active') return { ok: false, reason: 'unknown' };
  const chain = verifyCertificateChain(leafPem, [row.caChain], [row.caChain], now);
  if (!chain.ok) {
    const code = chain.error.code;
    return {
      ok: false,
      reason:
        code === 'PKI_EXPIRED'
          ? 'expired'
          : code === 'PKI_NOT_YET_VALID'
            ? 'not-yet-valid'
            : 'untrusted-chain',
    };
  }
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(leaf.subject)?.[1];
  if (cn !== row.deviceName) return { ok: false, reason: 'device-mismatch' };
  if (row.decommissionedAt !== null || row.admission !== 'accepted')
    return { ok: false, reason: 'device-not-accepted' };
  return {
    ok: true,
    device: {
      tenantId: row.tenantId,
      deviceId: row.deviceId,
      deviceName: row.deviceName,
      deviceClassId: row.deviceClassId,
      certificateId: row.certificateId,
    },
  };
}
