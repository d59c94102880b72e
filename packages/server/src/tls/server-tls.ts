import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import type { SecureContextOptions, TlsOptions } from 'node:tls';
import type { Kysely } from 'kysely';
import type { ServerConfig } from '../config/config.js';
import type { Database } from '../db/database.js';
import { ServerError } from '../errors.js';
import { type CaKeyBox, loadOrCreateTenantCa } from '../features/pki/tenant-ca.js';
import { issueServerCertificate } from '../pki/pki.js';
import { DEFAULT_TENANT_ID } from '../tenants/tenant.repository.js';

/** Days of validity of an issued server certificate. */
const SERVER_CERTIFICATE_DAYS = 397;
/** An issued server certificate closer than this to its expiry is replaced at start. */
const RENEW_BEFORE_MS = 30 * 86_400_000;
/** Bound on a configured certificate or key file (a chain of a few certificates is ~10 KiB). */
const MAX_PEM_FILE_BYTES = 1024 * 1024;

/** The listener's TLS material and what the start prints about it. */
export interface ServerTlsMaterial {
  /** PEM server certificate followed by its chain. */
  readonly cert: string;
  readonly key: string;
  /** Where the issued certificate came from. */
  readonly source: 'configured' | 'issued' | 'reused';
  /** `<dataDir>/pki/ca.pem` (the chain devices pin); absent with a configured certificate. */
  readonly caFile?: string;
  /** SHA-256 of the issuing CA certificate (first in `ca.pem`), `AB:CD:…` like `openssl x509 -fingerprint`. */
  readonly caFingerprint?: string;
}

/**
 * The options every TLS listener of the service starts with: TLS 1.3 only unless
 * `tls.minVersion` opts into 1.2; client certificates requested but verified by the service
 * itself against the database (so a refusal is a problem+json answer, token enrollment and the
 * management API share the port, and revocation needs no listener restart).
 */
export function listenerTlsOptions(config: ServerConfig): TlsOptions {
  return {
    minVersion: config.tls.minVersion,
    maxVersion: 'TLSv1.3',
    requestCert: true,
    rejectUnauthorized: false,
  };
}

/** The secure context of the listener: versions plus the certificate and key. */
export function secureContextOptions(
  config: ServerConfig,
  material: ServerTlsMaterial,
): SecureContextOptions {
  return {
    minVersion: config.tls.minVersion,
    maxVersion: 'TLSv1.3',
    cert: material.cert,
    key: material.key,
  };
}

/**
 * The server certificate: `tls.certFile`/`tls.keyFile` when configured (checked to be a matching
 * pair), otherwise `<dataDir>/pki/server.pem`/`server.key`, issued by the default tenant's issuing
 * CA for `tls.hosts`, reused on later starts and reissued when within 30 days of its expiry, when
 * the hosts changed or when it no longer chains to the tenant CA. Writes `<dataDir>/pki/ca.pem`.
 */
export async function loadServerTls(
  config: ServerConfig,
  db: Kysely<Database>,
  caKeys: CaKeyBox,
  now: Date,
): Promise<ServerTlsMaterial> {
  if (config.tls.certFile !== '' || config.tls.keyFile !== '') {
    return loadConfiguredTls(config.tls.certFile, config.tls.keyFile);
  }
  const ca = await loadOrCreateTenantCa(db, caKeys, DEFAULT_TENANT_ID, 'default', now);
  const dir = path.join(config.dataDir, 'pki');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const certFile = path.join(dir, 'server.pem');
  const keyFile = path.join(dir, 'server.key');
  const caFile = path.join(dir, 'ca.pem');
  await writeAtomically(caFile, ca.chainPem, 0o644);
  const caFingerprint = colonHex(new X509Certificate(ca.certificatePem).raw);

  const existing = await readExisting(certFile, keyFile);
  if (
    existing !== undefined &&
    stillFits(existing.cert, ca.certificatePem, config.tls.hosts, now)
  ) {
    return { ...existing, source: 'reused', caFile, caFingerprint };
  }
  const issued = await issueServerCertificate(ca, {
    hosts: config.tls.hosts,
    validityDays: SERVER_CERTIFICATE_DAYS,
    now,
  });
  const cert = `${issued.certificatePem}${ca.chainPem}`;
  // Key first: a crash in between leaves a new key with an old certificate, which the next
  // start's pair check (stillFits → key match) replaces instead of serving.
  await writeAtomically(keyFile, issued.privateKeyPem, 0o600);
  await writeAtomically(certFile, cert, 0o600);
  return { cert, key: issued.privateKeyPem, source: 'issued', caFile, caFingerprint };
}

async function loadConfiguredTls(certFile: string, keyFile: string): Promise<ServerTlsMaterial> {
  if (certFile === '' || keyFile === '') {
    throw tlsError('TLS_CERTIFICATE_INVALID', 'tls.certFile and tls.keyFile must be set together', {
      certFile,
      keyFile,
    });
  }
  const cert = await readPem(certFile, 'tls.certFile');
  const key = await readPem(keyFile, 'tls.keyFile');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (cause) {
    throw tlsError(
      'TLS_CERTIFICATE_INVALID',
      `tls.certFile ${certFile} holds no PEM certificate`,
      { certFile },
      cause,
    );
  }
  let matches: boolean;
  try {
    matches = leaf.checkPrivateKey(createPrivateKey(key));
  } catch (cause) {
    throw tlsError(
      'TLS_CERTIFICATE_INVALID',
      `tls.keyFile ${keyFile} holds no usable PEM private key`,
      { keyFile },
      cause,
    );
  }
  if (!matches) {
    throw tlsError(
      'TLS_KEY_MISMATCH',
      `tls.keyFile ${keyFile} is not the private key of the certificate in tls.certFile ${certFile}`,
      { certFile, keyFile },
    );
  }
  return { cert, key, source: 'configured' };
}

async function readPem(file: string, setting: string): Promise<string> {
  let text: string;
  try {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      if (size > MAX_PEM_FILE_BYTES) {
        throw tlsError('TLS_CERTIFICATE_INVALID', `${setting} ${file} is larger than 1 MiB`, {
          file,
        });
      }
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (cause) {
    if (cause instanceof ServerError) throw cause;
    throw tlsError('TLS_CERTIFICATE_INVALID', `${setting} ${file} cannot be read`, { file }, cause);
  }
  return text;
}

async function readExisting(
  certFile: string,
  keyFile: string,
): Promise<{ cert: string; key: string } | undefined> {
  try {
    const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
    return { cert, key };
  } catch {
    return undefined; // first start (or a half-written pair): issue a new one
  }
}

/** The stored certificate is ours to keep: same key, same CA, same hosts, 30+ days left. */
function stillFits(
  stored: string,
  caCertificatePem: string,
  hosts: readonly string[],
  now: Date,
): boolean {
  try {
    const leaf = new X509Certificate(stored);
    const ca = new X509Certificate(caCertificatePem);
    if (!leaf.checkIssued(ca) || !leaf.verify(ca.publicKey)) return false;
    if (new Date(leaf.validTo).getTime() - now.getTime() < RENEW_BEFORE_MS) return false;
    if (new Date(leaf.validFrom).getTime() > now.getTime()) return false;
    const names = (leaf.subjectAltName ?? '').split(', ').filter((n) => n !== '');
    if (names.length !== new Set(hosts).size) return false;
    return hosts.every((host) =>
      isIP(host) === 0 ? leaf.checkHost(host) === host : leaf.checkIP(host) === host,
    );
  } catch {
    return false;
  }
}

/** Writes a file so readers see the old or the complete new content, never a part. */
async function writeAtomically(file: string, content: string, mode: number): Promise<void> {
  const temp = `${file}.${process.pid}.${Date.now()}.tmp`;
  const handle = await open(temp, 'w', mode);
  try {
    await handle.writeFile(content, 'utf8');
    await handle.chmod(mode); // open's mode is masked by the umask
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

function colonHex(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)!.join(':');
}

function tlsError(
  code: 'TLS_CERTIFICATE_INVALID' | 'TLS_KEY_MISMATCH',
  message: string,
  details: Record<string, unknown>,
  cause?: unknown,
): ServerError {
  return new ServerError(code, message, {
    details,
    ...(cause === undefined ? {} : { cause }),
  });
}
