import {
  createCipheriv,
  createDecipheriv,
  createHash,
  randomBytes,
  X509Certificate,
} from 'node:crypto';
import { BugError } from '@updraft/core';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import { createIssuingCa, createRootCa, type PkiKeyPair } from '../../pki/pki.js';
import type { PkiTenantCaTable } from './pki.table.js';

const SEAL_VERSION = 'v1';
// A self-made root is for installations that skipped the offline step (`updraft pki init`):
// it lives only long enough to sign the issuing CA and is never stored.
const SELF_MADE_ROOT_DAYS = 7305;
const ISSUING_DAYS = 1826;

/** The tenant's online issuing CA, ready to sign. */
export interface TenantCa extends PkiKeyPair {
  readonly tenantId: string;
  /** The issuing CA then every CA above it up to the root: what devices pin (`ca.pem`). */
  readonly chainPem: string;
  /** SHA-256 (hex) of the issuing CA certificate's DER. */
  readonly fingerprint: string;
  readonly source: 'generated' | 'imported';
  readonly notAfter: string;
}

/**
 * Seals a CA private key for storage: AES-256-GCM under the master-key-derived key `pki-ca-key`,
 * bound to the tenant (additional data), so a database dump without the master key holds no key
 * and a sealed key copied to another tenant's row does not open.
 */
export class CaKeyBox {
  readonly #key: Buffer;

  /** `key`: 32 bytes, `deriveKey(masterKey, 'pki-ca-key')`. */
  constructor(key: Uint8Array) {
    if (key.length !== 32) throw new RangeError('CA key sealing key must be 32 bytes');
    this.#key = Buffer.from(key);
  }

  seal(privateKeyPem: string, tenantId: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(`pki-ca\n${tenantId}`, 'utf8'));
    const ct = Buffer.concat([cipher.update(privateKeyPem, 'utf8'), cipher.final()]);
    return [SEAL_VERSION, iv, cipher.getAuthTag(), ct]
      .map((p) => p.toString('base64url'))
      .join('.');
  }

  open(sealed: string, tenantId: string): string {
    const [version, iv, tag, ct] = sealed.split('.');
    if (version !== SEAL_VERSION || iv === undefined || tag === undefined || ct === undefined)
      throw new BugError(`tenant ${tenantId}: unknown CA key format`);
    const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(`pki-ca\n${tenantId}`, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([
      decipher.update(Buffer.from(ct, 'base64url')),
      decipher.final(),
    ]).toString('utf8');
  }
}

/** SHA-256 (hex) of a PEM certificate's DER encoding. */
export function certificateFingerprint(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
}

/** The public side of a tenant's issuing CA: everything but the key, and its CRL number. */
export interface TenantCaCertificate extends Omit<TenantCa, 'privateKeyPem'> {
  /** The last CRL number issued (`pki_tenant_cas.crl_number`). */
  readonly crlNumber: number;
}

/**
 * The tenant's issuing CA certificate and chain without its key (the sealed key is not even read),
 * or `undefined` when it has none yet: what public reads (EST `cacerts`, the CRL cache check,
 * the CA view) need, so they never unseal the key.
 */
export async function loadTenantCaCertificate(
  db: Kysely<Database>,
  tenantId: string,
): Promise<TenantCaCertificate | undefined> {
  const row = await db
    .selectFrom('pki_tenant_cas')
    .select(['tenant_id', 'certificate_pem', 'chain_pem', 'fingerprint', 'source', 'not_after'])
    .select('crl_number')
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  return (
    row && {
      tenantId: row.tenant_id,
      certificatePem: row.certificate_pem,
      chainPem: row.chain_pem,
      fingerprint: row.fingerprint,
      source: row.source === 'imported' ? 'imported' : 'generated',
      notAfter: row.not_after,
      crlNumber: Number(row.crl_number),
    }
  );
}

/** The tenant's issuing CA, or `undefined` when it has none yet. */
export async function loadTenantCa(
  db: Kysely<Database>,
  box: CaKeyBox,
  tenantId: string,
): Promise<TenantCa | undefined> {
  const row = await db
    .selectFrom('pki_tenant_cas')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  return row === undefined ? undefined : fromRow(row, box);
}

/**
 * The tenant's issuing CA; on the first call for a tenant, creates one under a self-made root
 * (whose key is dropped at once). Replicas starting together race safely: the first insert wins
 * and every caller returns the stored CA.
 */
export async function loadOrCreateTenantCa(
  db: Kysely<Database>,
  box: CaKeyBox,
  tenantId: string,
  tenantName: string,
  now: Date,
): Promise<TenantCa> {
  const existing = await loadTenantCa(db, box, tenantId);
  if (existing !== undefined) return existing;
  const root = await createRootCa({
    commonName: `Updraft root CA ${tenantName}`,
    validityDays: SELF_MADE_ROOT_DAYS,
    now,
  });
  const issuing = await createIssuingCa(root, {
    commonName: `Updraft issuing CA ${tenantName}`,
    validityDays: ISSUING_DAYS,
    now,
  });
  await db
    .insertInto('pki_tenant_cas')
    .values({
      tenant_id: tenantId,
      certificate_pem: issuing.certificatePem,
      chain_pem: `${issuing.certificatePem}${root.certificatePem}`,
      private_key_box: box.seal(issuing.privateKeyPem, tenantId),
      fingerprint: certificateFingerprint(issuing.certificatePem),
      source: 'generated',
      not_after: new Date(new X509Certificate(issuing.certificatePem).validTo).toISOString(),
      crl_number: 0,
      created_at: now.toISOString(),
    })
    .onConflict((oc) => oc.column('tenant_id').doNothing())
    .execute();
  const stored = await loadTenantCa(db, box, tenantId);
  if (stored === undefined) throw new BugError(`tenant ${tenantId}: issuing CA not stored`);
  return stored;
}

function fromRow(row: PkiTenantCaTable, box: CaKeyBox): TenantCa {
  return {
    tenantId: row.tenant_id,
    certificatePem: row.certificate_pem,
    privateKeyPem: box.open(row.private_key_box, row.tenant_id),
    chainPem: row.chain_pem,
    fingerprint: row.fingerprint,
    source: row.source === 'imported' ? 'imported' : 'generated',
    notAfter: row.not_after,
  };
}
