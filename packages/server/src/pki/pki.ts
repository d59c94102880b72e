// @peculiar/x509 resolves its algorithm providers through tsyringe, which needs the Reflect API.
import 'reflect-metadata';
import {
  createHash,
  createPublicKey,
  X509Certificate as NodeCertificate,
  randomBytes,
  webcrypto,
} from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';
import { ServerError, type ServerErrorCode } from '../errors.js';

// @peculiar/x509 signs and verifies through WebCrypto; Node's own implementation backs it.
const crypto = webcrypto;
type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
x509.cryptoProvider.set(crypto);

export type PkiErrorCode = Extract<ServerErrorCode, `PKI_${string}`>;

/** A typed PKI failure; every bad input to this module ends as one of these, never another error. */
export class PkiError extends ServerError {
  declare readonly code: PkiErrorCode;
  constructor(
    code: PkiErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown>; exposable?: boolean } = {},
  ) {
    super(code, message, options);
  }
}

/** A CA or leaf as stored: certificate and PKCS#8 private key, both PEM. */
export interface PkiKeyPair {
  certificatePem: string;
  privateKeyPem: string;
}

export const MAX_CSR_BYTES = 16 * 1024;
const MAX_VALIDITY_DAYS = 36_500;
const MAX_NAME_LENGTH = 64; // X.520 ub-common-name
const MAX_CHAIN_LENGTH = 8;
const DAY_MS = 86_400_000;
// Backdating absorbs small clock skew between the issuer and whoever checks the certificate.
const BACKDATE_MS = 5 * 60_000;
export const DEVICE_URI_PREFIX = 'urn:updraft:device:';

const CA_KEY_ALGORITHM: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const CA_SIGNING_ALGORITHM: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

interface ValidityOptions {
  validityDays: number;
  now: Date;
}

export async function createRootCa(
  options: { commonName: string } & ValidityOptions,
): Promise<PkiKeyPair> {
  const commonName = checkName(options.commonName, 'commonName');
  const { notBefore, notAfter } = validity(options);
  const keys = await generateCaKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [commonName] }],
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: CA_SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    certificatePem: certificatePem(cert),
    privateKeyPem: await exportPrivateKey(keys.privateKey),
  };
}

/** An online CA (one per tenant) under the offline root; it may sign leaves only (pathLen 0). */
export async function createIssuingCa(
  root: PkiKeyPair,
  options: { commonName: string } & ValidityOptions,
): Promise<PkiKeyPair> {
  const commonName = checkName(options.commonName, 'commonName');
  const { notBefore, notAfter } = validity(options);
  const signer = await loadCa(root);
  const keys = await generateCaKeys();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [commonName] }],
    issuer: signer.cert.subjectName,
    notBefore,
    notAfter: clampToIssuer(notAfter, signer.cert),
    publicKey: keys.publicKey,
    signingKey: signer.key,
    signingAlgorithm: CA_SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(signer.cert.publicKey),
    ],
  });
  return {
    certificatePem: certificatePem(cert),
    privateKeyPem: await exportPrivateKey(keys.privateKey),
  };
}

export interface DeviceCertificateOptions extends ValidityOptions {
  deviceName: string;
  deviceId: string;
  /** The tenant's id, the subject's O: a device name is unique only within its tenant. */
  tenantId: string;
  /** SPKI SHA-256 fingerprints (hex) that must not be certified, e.g. the device's birth key. */
  forbiddenKeys?: readonly string[];
}

/**
 * Certifies the key of a device's CSR. Only the key is taken from the request: subject, SAN and
 * usages are ours, so a device cannot ask for another device's name or for a CA certificate.
 */
export async function issueDeviceCertificate(
  issuing: PkiKeyPair,
  csr: string | Uint8Array,
  options: DeviceCertificateOptions,
): Promise<string> {
  const deviceName = checkName(options.deviceName, 'deviceName');
  const deviceId = checkName(options.deviceId, 'deviceId');
  const tenantId = checkName(options.tenantId, 'tenantId');
  if (!/^[A-Za-z0-9._~-]+$/.test(deviceId)) {
    throw new PkiError('PKI_INPUT_INVALID', 'deviceId must be URI-safe (letters, digits, . _ ~ -)');
  }
  const { notBefore, notAfter } = validity(options);
  const request = await parseCsr(csr);
  const fingerprint = sha256Hex(request.publicKey.rawData);
  const forbidden = new Set((options.forbiddenKeys ?? []).map((f) => f.toLowerCase()));
  if (forbidden.has(fingerprint)) {
    throw new PkiError(
      'PKI_KEY_REUSED',
      'the request reuses a key that must not be certified again',
      {
        details: { fingerprint },
      },
    );
  }
  const signer = await loadCa(issuing);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    // O first, CN last in the DER, so RFC 2253 (which reverses) prints `CN=<name>,O=<tenant>`.
    subject: [{ O: [tenantId] }, { CN: [deviceName] }],
    issuer: signer.cert.subjectName,
    notBefore,
    notAfter: clampToIssuer(notAfter, signer.cert),
    publicKey: request.publicKey,
    signingKey: signer.key,
    signingAlgorithm: CA_SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'url', value: `${DEVICE_URI_PREFIX}${deviceId}` },
      ]),
      await x509.SubjectKeyIdentifierExtension.create(request.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(signer.cert.publicKey),
    ],
  });
  return certificatePem(cert);
}

/** A TLS server certificate (new P-256 key) for DNS names and IP addresses. */
export async function issueServerCertificate(
  issuing: PkiKeyPair,
  options: { hosts: readonly string[] } & ValidityOptions,
): Promise<PkiKeyPair> {
  if (options.hosts.length === 0 || options.hosts.length > 100) {
    throw new PkiError('PKI_INPUT_INVALID', 'a server certificate needs 1 to 100 hosts');
  }
  const names = options.hosts.map(hostName);
  const { notBefore, notAfter } = validity(options);
  const signer = await loadCa(issuing);
  const keys = await generateCaKeys();
  const first = options.hosts[0]!;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [first.slice(0, MAX_NAME_LENGTH)] }],
    issuer: signer.cert.subjectName,
    notBefore,
    notAfter: clampToIssuer(notAfter, signer.cert),
    publicKey: keys.publicKey,
    signingKey: signer.key,
    signingAlgorithm: CA_SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(signer.cert.publicKey),
    ],
  });
  return {
    certificatePem: certificatePem(cert),
    privateKeyPem: await exportPrivateKey(keys.privateKey),
  };
}

export type ChainVerification = { ok: true; chain: string[] } | { ok: false; error: PkiError };

/**
 * Builds a path from `leafPem` through `intermediatesPem` to one of `trustedRootsPem` by name and
 * signature, then checks every certificate on it is valid at `now`. The returned chain is leaf
 * first, root last.
 */
export function verifyCertificateChain(
  leafPem: string,
  intermediatesPem: readonly string[],
  trustedRootsPem: readonly string[],
  now: Date,
): ChainVerification {
  try {
    const leaf = parseCertificate(leafPem);
    const intermediates = intermediatesPem.flatMap(splitPem).map(parseCertificate);
    const roots = trustedRootsPem.flatMap(splitPem).map(parseCertificate);
    const chain = buildPath(leaf, intermediates, roots);
    if (chain === undefined) {
      throw new PkiError('PKI_UNTRUSTED', 'the certificate does not chain to a trusted root', {
        details: { subject: leaf.subject },
      });
    }
    for (const cert of chain) {
      if (now.getTime() < new Date(cert.validFrom).getTime()) {
        throw new PkiError('PKI_NOT_YET_VALID', `certificate "${cert.subject}" is not valid yet`, {
          details: { subject: cert.subject, notBefore: new Date(cert.validFrom).toISOString() },
        });
      }
      if (now.getTime() > new Date(cert.validTo).getTime()) {
        throw new PkiError('PKI_EXPIRED', `certificate "${cert.subject}" has expired`, {
          details: { subject: cert.subject, notAfter: new Date(cert.validTo).toISOString() },
        });
      }
    }
    return { ok: true, chain: chain.map((c) => c.toString()) };
  } catch (error) {
    if (error instanceof PkiError) return { ok: false, error };
    throw error;
  }
}

/** SHA-256 (hex) of the SubjectPublicKeyInfo of a certificate, CSR or public key (PEM). */
export function spkiFingerprint(pem: string): string {
  const label = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(pem)?.[1];
  try {
    if (label === 'CERTIFICATE REQUEST' || label === 'NEW CERTIFICATE REQUEST') {
      return sha256Hex(new x509.Pkcs10CertificateRequest(pem).publicKey.rawData);
    }
    if (label === 'PUBLIC KEY') {
      return sha256Hex(createPublicKey(pem).export({ type: 'spki', format: 'der' }));
    }
    return sha256Hex(parseCertificate(pem).publicKey.export({ type: 'spki', format: 'der' }));
  } catch (error) {
    if (error instanceof PkiError) throw error;
    throw new PkiError(
      'PKI_CERTIFICATE_MALFORMED',
      'not a PEM certificate, request or public key',
      { cause: error },
    );
  }
}

export interface CertificateDescription {
  subject: string;
  issuer: string;
  serialNumber: string;
  notBefore: string;
  notAfter: string;
  subjectAltNames: string[];
  isCa: boolean;
  fingerprint: string;
}

/** What the inventory shows of a certificate; `fingerprint` is the SPKI SHA-256 (hex). */
export function describeCertificate(pem: string): CertificateDescription {
  const cert = parseCertificate(pem);
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    serialNumber: cert.serialNumber.toLowerCase(),
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: new Date(cert.validTo).toISOString(),
    subjectAltNames: cert.subjectAltName === undefined ? [] : cert.subjectAltName.split(', '),
    isCa: cert.ca,
    fingerprint: sha256Hex(cert.publicKey.export({ type: 'spki', format: 'der' })),
  };
}

// ---- internals

async function parseCsr(input: string | Uint8Array): Promise<x509.Pkcs10CertificateRequest> {
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.byteLength;
  if (size > MAX_CSR_BYTES) {
    throw new PkiError(
      'PKI_CSR_TOO_LARGE',
      `a certificate request may be at most ${MAX_CSR_BYTES} bytes`,
      {
        details: { size },
      },
    );
  }
  let request: x509.Pkcs10CertificateRequest;
  try {
    const der =
      typeof input === 'string'
        ? pemToDer(input, ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST'])
        : input;
    request = new x509.Pkcs10CertificateRequest(Uint8Array.from(der));
    // Touch the lazily parsed parts so a broken key or extension fails here, as malformed.
    void request.publicKey.rawData;
    void request.signatureAlgorithm;
  } catch (error) {
    throw new PkiError('PKI_CSR_MALFORMED', 'not a PKCS#10 certificate request', { cause: error });
  }
  checkKey(request.publicKey.rawData);
  let valid = false;
  try {
    valid = await request.verify(crypto);
  } catch (error) {
    throw new PkiError('PKI_CSR_SIGNATURE_INVALID', 'the request signature cannot be verified', {
      cause: error,
    });
  }
  if (!valid)
    throw new PkiError('PKI_CSR_SIGNATURE_INVALID', 'the request signature does not verify');
  return request;
}

function checkKey(spki: ArrayBuffer): void {
  let type: string | undefined;
  let curve: string | undefined;
  try {
    const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    type = key.asymmetricKeyType;
    curve = key.asymmetricKeyDetails?.namedCurve;
  } catch (error) {
    throw new PkiError('PKI_KEY_UNSUPPORTED', 'the request key cannot be read', { cause: error });
  }
  const supported =
    type === 'ed25519' || (type === 'ec' && (curve === 'prime256v1' || curve === 'secp384r1'));
  if (!supported) {
    throw new PkiError(
      'PKI_KEY_UNSUPPORTED',
      'the request key must be EC P-256, EC P-384 or Ed25519',
      {
        details: { keyType: type, curve },
      },
    );
  }
}

function pemToDer(text: string, labels: readonly string[]): Uint8Array {
  const match = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/.exec(text);
  if (match === null || !labels.includes(match[1]!)) throw new Error(`expected PEM ${labels[0]}`);
  const body = match[2]!.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) throw new Error('PEM body is not base64');
  return Buffer.from(body, 'base64');
}

function splitPem(text: string): string[] {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
  if (blocks === null) throw new PkiError('PKI_CERTIFICATE_MALFORMED', 'no PEM certificate found');
  return blocks;
}

function parseCertificate(pem: string): NodeCertificate {
  try {
    return new NodeCertificate(pemToDer(pem, ['CERTIFICATE']));
  } catch (error) {
    throw new PkiError('PKI_CERTIFICATE_MALFORMED', 'not a PEM X.509 certificate', {
      cause: error,
    });
  }
}

function buildPath(
  leaf: NodeCertificate,
  intermediates: readonly NodeCertificate[],
  roots: readonly NodeCertificate[],
): NodeCertificate[] | undefined {
  const isRoot = (c: NodeCertificate) => roots.some((r) => r.raw.equals(c.raw));
  const issues = (issuer: NodeCertificate, subject: NodeCertificate, caBelow: number): boolean =>
    issuer.ca &&
    subject.checkIssued(issuer) &&
    safeVerify(subject, issuer) &&
    caBelow <= (pathLength(issuer) ?? Number.POSITIVE_INFINITY);

  // Depth-first over candidate issuers; trust comes only from a root in `roots`.
  const walk = (path: NodeCertificate[]): NodeCertificate[] | undefined => {
    const current = path[path.length - 1]!;
    if (isRoot(current)) return path;
    if (path.length >= MAX_CHAIN_LENGTH) return undefined;
    const caBelow = path.length - 1; // CA certificates between the candidate issuer and the leaf
    for (const root of roots) {
      if (issues(root, current, caBelow)) return [...path, root];
    }
    for (const candidate of intermediates) {
      if (path.some((c) => c.raw.equals(candidate.raw))) continue;
      if (issues(candidate, current, caBelow)) {
        const found = walk([...path, candidate]);
        if (found !== undefined) return found;
      }
    }
    return undefined;
  };
  return walk([leaf]);
}

function safeVerify(subject: NodeCertificate, issuer: NodeCertificate): boolean {
  try {
    return subject.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function pathLength(cert: NodeCertificate): number | undefined {
  try {
    return new x509.X509Certificate(cert.raw).getExtension(x509.BasicConstraintsExtension)
      ?.pathLength;
  } catch {
    return 0; // an unreadable constraint grants nothing
  }
}

async function loadCa(pair: PkiKeyPair): Promise<{ cert: x509.X509Certificate; key: CryptoKey }> {
  let cert: x509.X509Certificate;
  let key: CryptoKey;
  try {
    cert = new x509.X509Certificate(pemToDer(pair.certificatePem, ['CERTIFICATE']));
    key = await crypto.subtle.importKey(
      'pkcs8',
      pemToDer(pair.privateKeyPem, ['PRIVATE KEY']),
      CA_KEY_ALGORITHM,
      false,
      ['sign'],
    );
  } catch (error) {
    throw new PkiError(
      'PKI_INPUT_INVALID',
      'the CA certificate or its P-256 PKCS#8 key cannot be read',
      {
        cause: error,
      },
    );
  }
  if (cert.getExtension(x509.BasicConstraintsExtension)?.ca !== true) {
    throw new PkiError('PKI_INPUT_INVALID', 'the signing certificate is not a CA');
  }
  return { cert, key };
}

function clampToIssuer(notAfter: Date, issuer: x509.X509Certificate): Date {
  // A child outliving its issuer would be unverifiable for the difference.
  return notAfter.getTime() > issuer.notAfter.getTime() ? issuer.notAfter : notAfter;
}

function validity({ validityDays, now }: ValidityOptions): { notBefore: Date; notAfter: Date } {
  if (!Number.isInteger(validityDays) || validityDays < 1 || validityDays > MAX_VALIDITY_DAYS) {
    throw new PkiError(
      'PKI_INPUT_INVALID',
      `validityDays must be a whole number from 1 to ${MAX_VALIDITY_DAYS}`,
    );
  }
  if (Number.isNaN(now.getTime()))
    throw new PkiError('PKI_INPUT_INVALID', 'now is not a valid date');
  return {
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + validityDays * DAY_MS),
  };
}

function checkName(value: string, field: string): string {
  const trimmed = value.trim();
  // Control characters in a subject confuse log readers and some TLS stacks.
  const hasControl = [...trimmed].some(
    (ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f,
  );
  if (trimmed.length === 0 || trimmed.length > MAX_NAME_LENGTH || hasControl) {
    throw new PkiError(
      'PKI_INPUT_INVALID',
      `${field} must be 1 to ${MAX_NAME_LENGTH} printable characters`,
    );
  }
  return trimmed;
}

function hostName(host: string): x509.JsonGeneralName {
  if (isIP(host) !== 0) return { type: 'ip', value: host };
  const label = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;
  const labels = host.split('.');
  const wildcardOk = labels[0] === '*' && labels.length > 2;
  if (host.length > 253 || !labels.every((l, i) => label.test(l) || (i === 0 && wildcardOk))) {
    throw new PkiError(
      'PKI_INPUT_INVALID',
      `"${host.slice(0, 80)}" is neither a DNS name nor an IP address`,
    );
  }
  return { type: 'dns', value: host.toLowerCase() };
}

async function generateCaKeys(): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey(CA_KEY_ALGORITHM, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
}

async function exportPrivateKey(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await crypto.subtle.exportKey('pkcs8', key));
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join('\n')}\n-----END PRIVATE KEY-----\n`;
}

/** 16 random bytes, high bit clear and first byte non-zero: positive and exactly 16 bytes in DER. */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString('hex');
}

function sha256Hex(data: ArrayBuffer | Uint8Array): string {
  return createHash('sha256').update(new Uint8Array(data)).digest('hex');
}

/** PEM ending in a newline, so that files of several certificates are plain concatenations. */
function certificatePem(cert: x509.X509Certificate): string {
  const pem = cert.toString('pem');
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}

/** RFC 5280 CRL reason names (`CRLReason`), as the inventory stores and the API accepts them. */
export const REVOCATION_REASONS = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'privilegeWithdrawn',
  'aACompromise',
] as const;
export type RevocationReason = (typeof REVOCATION_REASONS)[number];

/** True when `value` is one of {@link REVOCATION_REASONS}. */
export function isRevocationReason(value: unknown): value is RevocationReason {
  return typeof value === 'string' && (REVOCATION_REASONS as readonly string[]).includes(value);
}

/** One revoked certificate on a CRL. */
export interface CrlEntry {
  /** Serial, hex. */
  serial: string;
  revokedAt: Date;
  reason: RevocationReason;
}

/**
 * A DER CRL signed by the issuing CA: `thisUpdate` = `now`, `nextUpdate` = `now` + `nextUpdateHours`,
 * with the CRL number and authority key id extensions RFC 5280 §5.2 requires of a conforming CA.
 */
export async function createCrl(
  issuing: PkiKeyPair,
  options: { crlNumber: number; entries: readonly CrlEntry[]; now: Date; nextUpdateHours: number },
): Promise<Uint8Array> {
  if (!Number.isSafeInteger(options.crlNumber) || options.crlNumber < 0) {
    throw new PkiError('PKI_INPUT_INVALID', 'crlNumber must be a non-negative integer');
  }
  const signer = await loadCa(issuing);
  const crl = await x509.X509CrlGenerator.create({
    issuer: signer.cert.subjectName,
    thisUpdate: options.now,
    nextUpdate: new Date(options.now.getTime() + options.nextUpdateHours * 3_600_000),
    signingKey: signer.key,
    signingAlgorithm: CA_SIGNING_ALGORITHM,
    extensions: [
      new x509.Extension(CRL_NUMBER_OID, false, derInteger(options.crlNumber)),
      await x509.AuthorityKeyIdentifierExtension.create(signer.cert.publicKey),
    ],
    entries: options.entries.map((e) => ({
      serialNumber: e.serial,
      revocationDate: e.revokedAt,
      reason: x509.X509CrlReason[e.reason],
    })),
  });
  return new Uint8Array(crl.rawData);
}

/** PKCS#7 (CMS SignedData without signers) "certs-only" of PEM certificates, DER. */
export function certsOnlyPkcs7(pems: readonly string[]): Uint8Array {
  const certs = pems.flatMap(splitPem).map((pem) => new x509.X509Certificate(pem));
  return new Uint8Array(new x509.X509Certificates(certs).export('raw'));
}

/**
 * Checks a CA to import: the key is the certificate's, the certificate is a CA that may sign
 * certificates, and it chains through `chainPem` to the last certificate of the chain (the root).
 */
export function checkImportedCa(
  ca: PkiKeyPair,
  chainPem: string,
  now: Date,
): { chain: string[]; fingerprint: string; notAfter: string } {
  const cert = parseCertificate(ca.certificatePem);
  let keySpki: Buffer;
  try {
    keySpki = createPublicKey(ca.privateKeyPem).export({ type: 'spki', format: 'der' });
  } catch (error) {
    throw new PkiError('PKI_INPUT_INVALID', 'the private key cannot be read (PEM PKCS#8 or SEC1)', {
      cause: error,
    });
  }
  if (!keySpki.equals(cert.publicKey.export({ type: 'spki', format: 'der' }))) {
    throw new PkiError('PKI_INPUT_INVALID', 'the private key does not belong to the certificate');
  }
  if (!cert.ca) throw new PkiError('PKI_INPUT_INVALID', 'the certificate is not a CA');
  const usage = new x509.X509Certificate(cert.raw).getExtension(x509.KeyUsagesExtension);
  if (usage !== null && (usage.usages & x509.KeyUsageFlags.keyCertSign) === 0) {
    throw new PkiError('PKI_INPUT_INVALID', 'the CA certificate may not sign certificates');
  }
  const above = chainPem.trim() === '' ? [] : splitPem(chainPem);
  const selfSigned = cert.checkIssued(cert) && safeVerify(cert, cert);
  const root = above.length === 0 ? (selfSigned ? ca.certificatePem : undefined) : above.at(-1);
  if (root === undefined) {
    throw new PkiError('PKI_UNTRUSTED', 'give the chain up to the root (chainPem)');
  }
  const verified = verifyCertificateChain(ca.certificatePem, above, [root], now);
  if (!verified.ok) throw verified.error;
  return {
    chain: verified.chain,
    fingerprint: sha256Hex(cert.raw),
    notAfter: new Date(cert.validTo).toISOString(),
  };
}

const CRL_NUMBER_OID = '2.5.29.20';

/** DER INTEGER of a non-negative safe integer (minimal, positive). */
function derInteger(value: number): ArrayBuffer {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  if (Number.parseInt(hex.slice(0, 2), 16) >= 0x80) hex = `00${hex}`;
  const body = Buffer.from(hex, 'hex');
  const der = Buffer.concat([Buffer.from([0x02, body.length]), body]);
  return der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength);
}
