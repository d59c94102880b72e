import type { X509Certificate } from 'node:crypto';
import { AgentError } from '../errors.js';
import { parseCertificates, toPem } from './pem.js';

/**
 * The CA certificate(s) the agent trusts for the update service and for its own certificates:
 * the tenant's issuing CA or the root (docs/pki.md), never a leaf, so that the service may change
 * its server certificate without touching devices. Used as node:tls `ca`, which replaces the
 * system's trust store (and NODE_EXTRA_CA_CERTS) for the agent's connections.
 */
export class PinnedCa {
  /** The pinned certificates. */
  readonly certificates: readonly X509Certificate[];
  /** The same, as PEM text (node:tls `ca`). */
  readonly pem: string;

  private constructor(certificates: readonly X509Certificate[]) {
    this.certificates = certificates;
    this.pem = toPem(certificates);
  }

  /** Parses a PEM pin; a certificate that is not a CA is refused with `AGENT_CONFIG_INVALID`. */
  static parse(pem: string): PinnedCa {
    const certs = parseCertificates(pem, 'AGENT_CONFIG_INVALID', 'pinned CA');
    for (const cert of certs) {
      if (!cert.ca) {
        throw new AgentError(
          'AGENT_CONFIG_INVALID',
          'the pinned certificate is not a CA (pin the issuing CA or the root, never a leaf)',
          { details: { subject: cert.subject, fingerprint: cert.fingerprint256 } },
        );
      }
    }
    return new PinnedCa(certs);
  }

  /**
   * node:tls options that trust the pin only and refuse anything below TLS 1.3. A pinned issuing
   * CA is not self-signed: `allowPartialTrustChain` lets OpenSSL end the path there.
   */
  tlsOptions(): { ca: string; minVersion: 'TLSv1.3'; allowPartialTrustChain: true } {
    return { ca: this.pem, minVersion: 'TLSv1.3', allowPartialTrustChain: true };
  }
}
