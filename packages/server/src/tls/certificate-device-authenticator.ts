import type { Kysely } from 'kysely';
import {
  type CertificateRefusalReason,
  identifyDeviceCertificate,
} from '../auth/certificate-identity.js';
import type { DeviceAuthenticator, DeviceCredentialSource } from '../auth/device-authenticator.js';
import type { DevicePrincipal } from '../auth/principal.js';
import type { Database } from '../db/database.js';
import { ServerError } from '../errors.js';

export interface CertificateDeviceAuthenticatorOptions {
  readonly db: Kysely<Database>;
  /** Requests without a client certificate (the bearer path, with its session cache). */
  readonly fallback: DeviceAuthenticator;
  readonly now: () => Date;
  /** `pki.rotationGraceSeconds`. */
  readonly rotationGraceSeconds: number;
  /** Counts a refusal (`updraft_pki_refusals_total{channel="device-api"}`). */
  readonly onRefusal?: (reason: CertificateRefusalReason | 'bearer-forbidden') => void;
}

/**
 * Device authentication by TLS client certificate (docs/pki.md, identity rules): a request that
 * presents a certificate is identified by it alone — a refused certificate is a 401
 * `DEVICE_CERTIFICATE_REFUSED` and never falls back to a bearer token sent alongside; a request
 * without one goes to the bearer path.
 *
 * Certificate sessions are not cached: every request runs the identity check (one indexed
 * statement and a chain verification), so a revocation, an admission change or a tenant CA change
 * applies to the very next request, on an open keep-alive connection too, on every replica.
 */
export class CertificateDeviceAuthenticator implements DeviceAuthenticator {
  constructor(private readonly options: CertificateDeviceAuthenticatorOptions) {}

  async authenticate(source: DeviceCredentialSource): Promise<DevicePrincipal | null> {
    const chain = source.peerCertificates;
    if (chain === undefined) {
      try {
        return await this.options.fallback.authenticate(source);
      } catch (error) {
        if (error instanceof ServerError && error.code === 'DEVICE_BEARER_TOKENS_FORBIDDEN')
          this.options.onRefusal?.('bearer-forbidden');
        throw error;
      }
    }
    const identity = await identifyDeviceCertificate(this.options.db, chain, this.options.now(), {
      rotationGraceSeconds: this.options.rotationGraceSeconds,
    });
    if (!identity.ok) {
      this.options.onRefusal?.(identity.reason);
      throw new ServerError(
        'DEVICE_CERTIFICATE_REFUSED',
        `The client certificate was refused (${identity.reason}).`,
        { details: { reason: identity.reason } },
      );
    }
    const { device } = identity;
    return {
      kind: 'device',
      tenantId: device.tenantId,
      deviceId: device.deviceId,
      deviceClassId: device.deviceClassId,
      credentialId: device.certificateId,
    };
  }
}
