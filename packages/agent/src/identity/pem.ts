import { X509Certificate } from 'node:crypto';
import { AgentError, type AgentErrorCode } from '../errors.js';

const BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
/** Most certificates accepted in one PEM text or PKCS#7 bundle. */
export const MAX_CERTIFICATES = 8;

/** Splits a PEM text into its certificates (parsed), refusing an empty or oversized list. */
export function parseCertificates(
  pem: string,
  code: AgentErrorCode,
  what: string,
): X509Certificate[] {
  const blocks = pem.match(BLOCK) ?? [];
  if (blocks.length === 0 || blocks.length > MAX_CERTIFICATES) {
    throw new AgentError(code, `${what}: expected 1 to ${MAX_CERTIFICATES} PEM certificates`);
  }
  return blocks.map((b) => {
    try {
      return new X509Certificate(b);
    } catch (cause) {
      throw new AgentError(code, `${what}: not a valid certificate`, { cause });
    }
  });
}

/** PEM text of certificates, one after the other (a chain file, leaf first). */
export function toPem(certs: readonly X509Certificate[]): string {
  return certs.map((c) => `${c.toString().trim()}\n`).join('');
}

/** Whether `cert` holds the public key whose DER SubjectPublicKeyInfo is `spki`. */
export function certifiesKey(cert: X509Certificate, spki: Uint8Array): boolean {
  const own = cert.publicKey.export({ type: 'spki', format: 'der' });
  return Buffer.compare(own, Buffer.from(spki)) === 0;
}

/**
 * Whether `leaf` chains to one of `anchors` through `intermediates` (by issuer name and
 * signature; every issuer must be a CA), every certificate on the way valid at `nowMs`. An anchor
 * may be an issuing CA or a root: the path stops at the first pinned certificate.
 */
export function chainsTo(
  leaf: X509Certificate,
  intermediates: readonly X509Certificate[],
  anchors: readonly X509Certificate[],
  nowMs: number,
): boolean {
  const valid = (c: X509Certificate) =>
    Date.parse(c.validFrom) <= nowMs && nowMs <= Date.parse(c.validTo);
  const issued = (child: X509Certificate, parent: X509Certificate) =>
    parent.ca && child.checkIssued(parent) && child.verify(parent.publicKey);
  let cert = leaf;
  for (let depth = 0; depth < MAX_CERTIFICATES; depth += 1) {
    if (!valid(cert)) return false;
    const anchor = anchors.find((a) => a.fingerprint256 === cert.fingerprint256 || issued(cert, a));
    if (anchor !== undefined) return valid(anchor);
    const next = intermediates.find((i) => i !== cert && issued(cert, i));
    if (next === undefined) return false;
    cert = next;
  }
  return false;
}

/** The subject's CN (node prints the subject one attribute a line), or null. */
export function commonName(cert: X509Certificate): string | null {
  return /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1] ?? null;
}
