import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { preparedQuery } from '../features/device-api/prepared-query.js';
import type { DevicePrincipal } from './principal.js';
import { hashToken } from './secrets.js';

/** The parts of a request a device authenticator may look at (bearer header now, TLS later). */
export interface DeviceCredentialSource {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The peer certificate when the connection is mTLS (identity issue). */
  readonly peerCertificate?: unknown;
}

/**
 * Turns a request's credentials into a device, or `null`. One interface so that per-device bearer
 * tokens (now) and mTLS client certificates (later) plug in the same way.
 */
export interface DeviceAuthenticator {
  authenticate(source: DeviceCredentialSource): Promise<DevicePrincipal | null>;
}

/** Reads `Authorization: Bearer <token>`; `undefined` when absent or malformed. */
export function bearerToken(headers: DeviceCredentialSource['headers']): string | undefined {
  const header = headers.authorization;
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer ([A-Za-z0-9._~+/=-]{16,512})$/.exec(header);
  return match?.[1];
}

/** Per-device bearer tokens, stored as SHA-256; decommissioned devices and revoked tokens fail. */
export class BearerDeviceAuthenticator implements DeviceAuthenticator {
  // Compiled once: every device request runs this lookup, so skip Kysely's per-call build.
  private readonly lookup;

  constructor(db: Kysely<Database>) {
    this.lookup = preparedQuery(db, ['tokenHash'], (p) =>
      db
        .selectFrom('device_tokens as t')
        .innerJoin('devices as d', (join) =>
          join.onRef('d.id', '=', 't.device_id').onRef('d.tenant_id', '=', 't.tenant_id'),
        )
        .select([
          'd.id as deviceId',
          'd.tenant_id as tenantId',
          'd.device_class_id as deviceClassId',
        ])
        .where('t.token_hash', '=', p.tokenHash)
        .where('t.revoked_at', 'is', null)
        .where('d.decommissioned_at', 'is', null),
    );
  }

  async authenticate(source: DeviceCredentialSource): Promise<DevicePrincipal | null> {
    const token = bearerToken(source.headers);
    if (!token?.startsWith('updraft_device_')) return null;
    const [row] = await this.lookup({ tokenHash: hashToken(token) });
    return row ? { kind: 'device', ...row } : null;
  }
}
