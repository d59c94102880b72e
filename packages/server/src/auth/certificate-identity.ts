// @peculiar/x509 resolves its algorithm providers through tsyringe, which needs the Reflect API.
import 'reflect-metadata';
import { createHash, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { DEVICE_URI_PREFIX, verifyCertificateChain } from '../pki/pki.js';

/** Why a presented device certificate was refused (`details.reason`, metric label). */
export const CERTIFICATE_REFUSAL_REASONS = [
  'unknown',
  'revoked',
  'expired',
  'not-yet-valid',
  'untrusted-chain',
  'device-mismatch',
  'device-not-accepted',
] as const;
export type CertificateRefusalReason = (typeof CERTIFICATE_REFUSAL_REASONS)[number];

/** The device a certificate identifies. */
export interface CertificateDevice {
  readonly tenantId: string;
  readonly deviceId: string;
  readonly deviceName: string;
  readonly deviceClassId: string;
  /** `device_certificates.id` (`crt_…`). */
  readonly certificateId: string;
}

export type CertificateIdentity =
  | { readonly ok: true; readonly device: CertificateDevice }
  | { readonly ok: false; readonly reason: CertificateRefusalReason };

export interface CertificateIdentityOptions {
  /** How long a superseded certificate still identifies its device (`pki.rotationGraceSeconds`). */
  readonly rotationGraceSeconds: number;
}

/** Facts of a certificate that never change, so repeated check-ins parse it once. */
interface LeafFacts {
  readonly fingerprint: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly commonNames: readonly string[];
  readonly organizations: readonly string[];
  readonly uris: readonly string[];
}

/** Parsed leaves by PEM text (bounded; immutable derivations, safe to share). */
const FACTS_CACHE_ENTRIES = 10_000;
/** Longer PEM texts are parsed every time (a device certificate is under 1 KiB). */
const FACTS_CACHE_MAX_PEM = 4096;
const factsCache = new Map<string, LeafFacts | null>();

/**
 * Identifies the device of a presented client certificate chain (PEM, leaf first, as the peer
 * sent it — nothing about it is trusted yet) under the identity rules of docs/pki.md, in order:
 * the leaf's certificate fingerprint is a row of `device_certificates` (else `unknown`); the row
 * is `active`, or `superseded` less than `rotationGraceSeconds` ago (else `revoked`); `now` is
 * inside the leaf's validity (`expired`, `not-yet-valid`); the leaf chains to its tenant's issuing
 * CA chain (`untrusted-chain`); its CN, O (when present) and device URI SAN agree with the device
 * record (`device-mismatch`); the device is `accepted` and not decommissioned
 * (`device-not-accepted`). Default-deny: only after every check is the answer `ok`.
 *
 * Transport-neutral (device API, EST, MQTT broker authentication).
 *
 * @example
 * const identity = await identifyDeviceCertificate(db, chain, new Date(), { rotationGraceSeconds: 86_400 });
 * if (!identity.ok) refuse(identity.reason);
 */
export async function identifyDeviceCertificate(
  db: Kysely<Database>,
  chainPem: readonly string[],
  now: Date,
  options: CertificateIdentityOptions,
): Promise<CertificateIdentity> {
  const [leafPem, ...intermediates] = chainPem;
  if (leafPem === undefined) return refuse('unknown');
  const leaf = leafFacts(leafPem);
  if (leaf === null) return refuse('unknown');
  const row = await db
    .selectFrom('device_certificates as c')
    .innerJoin('devices as d', (join) =>
      join.onRef('d.id', '=', 'c.device_id').onRef('d.tenant_id', '=', 'c.tenant_id'),
    )
    .leftJoin('pki_tenant_cas as ca', 'ca.tenant_id', 'c.tenant_id')
    .select([
      'c.id as certificateId',
      'c.tenant_id as tenantId',
      'c.device_id as deviceId',
      'c.state as state',
      'c.superseded_at as supersededAt',
      'd.name as deviceName',
      'd.device_class_id as deviceClassId',
      'd.admission as admission',
      'd.decommissioned_at as decommissionedAt',
      'ca.chain_pem as caChainPem',
    ])
    .where('c.fingerprint', '=', leaf.fingerprint)
    .executeTakeFirst();
  if (row === undefined) return refuse('unknown');

  const at = now.getTime();
  if (row.state === 'superseded') {
    const since = row.supersededAt === null ? Number.NaN : Date.parse(row.supersededAt);
    // Past the grace a replaced certificate is as good as revoked (NaN: never accepted).
    if (!(at - since < options.rotationGraceSeconds * 1000)) return refuse('revoked');
  } else if (row.state !== 'active') {
    return refuse('revoked');
  }
  if (at < leaf.notBefore) return refuse('not-yet-valid');
  if (at > leaf.notAfter) return refuse('expired');

  if (row.caChainPem === null) return refuse('untrusted-chain');
  const chain = verifyCertificateChain(leafPem, intermediates, [row.caChainPem], now);
  if (!chain.ok) {
    const code = chain.error.code;
    return refuse(
      code === 'PKI_EXPIRED'
        ? 'expired'
        : code === 'PKI_NOT_YET_VALID'
          ? 'not-yet-valid'
          : 'untrusted-chain',
    );
  }

  const uri = `${DEVICE_URI_PREFIX}${row.deviceId}`;
  if (
    leaf.commonNames.length !== 1 ||
    leaf.commonNames[0] !== row.deviceName ||
    !leaf.uris.includes(uri) ||
    leaf.uris.some((u) => u.startsWith(DEVICE_URI_PREFIX) && u !== uri) ||
    leaf.organizations.some((o) => o !== row.tenantId)
  ) {
    return refuse('device-mismatch');
  }
  if (row.admission !== 'accepted' || row.decommissionedAt !== null) {
    return refuse('device-not-accepted');
  }
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

function refuse(reason: CertificateRefusalReason): CertificateIdentity {
  return { ok: false, reason };
}

/** The leaf's immutable facts, or `null` when it is no certificate at all. */
function leafFacts(pem: string): LeafFacts | null {
  const cached = factsCache.get(pem);
  if (cached !== undefined) return cached;
  let facts: LeafFacts | null;
  try {
    const node = new X509Certificate(pem);
    const cert = new x509.X509Certificate(node.raw);
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
    facts = {
      fingerprint: createHash('sha256').update(node.raw).digest('hex'),
      notBefore: Date.parse(node.validFrom),
      notAfter: Date.parse(node.validTo),
      commonNames: cert.subjectName.getField('CN'),
      organizations: cert.subjectName.getField('O'),
      uris: san?.names.items.filter((n) => n.type === 'url').map((n) => n.value) ?? [],
    };
  } catch {
    facts = null;
  }
  if (pem.length > FACTS_CACHE_MAX_PEM) return facts;
  if (factsCache.size >= FACTS_CACHE_ENTRIES) {
    const oldest = factsCache.keys().next().value as string;
    factsCache.delete(oldest);
  }
  factsCache.set(pem, facts);
  return facts;
}
