import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { ServerError } from '../errors.js';
import { preparedQuery } from '../features/device-api/prepared-query.js';
import type { DeviceSessionCache } from './device-session-cache.js';
import type { DevicePrincipal } from './principal.js';
import { hashToken } from './secrets.js';
import { SharedStrings } from './shared-strings.js';

/** The parts of a request a device authenticator may look at. */
export interface DeviceCredentialSource {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /**
   * The client's certificates as presented (PEM, leaf first, unverified; `peerCertificates` in
   * tls/peer-certificate.ts); `undefined` when none was presented.
   */
  readonly peerCertificates?: readonly string[] | undefined;
}

/**
 * Turns a request's credentials into a device, or `null`. One interface so that per-device bearer
 * tokens and mTLS client certificates plug in the same way. A credential that is valid but not
 * allowed (a refused certificate, a bearer token its tenant forbids) throws a 401 `ServerError`
 * saying why.
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

/** A device's check-in state, read in the same statement as its credential. */
export interface PrefetchedCheckInState {
  /** Digest of the device's last stored report, `null` before its first. */
  readonly reportDigest: string | null;
  /** The device's open action, if any. */
  readonly actionId: string | null;
  /**
   * The device's name (its MQTT topic root), when read with the credential: a first poll then
   * needs one statement, not a second one for the push endpoint.
   */
  readonly deviceName?: string;
}

// Kept beside the principal (not in it) so principals stay plain {kind, tenantId, deviceId, ...}.
const checkInStates = new WeakMap<DevicePrincipal, PrefetchedCheckInState>();

/**
 * The check-in state an authenticator read (or had cached) together with this principal's
 * credential, so an idle check-in costs at most one indexed statement; `undefined` when the
 * authenticator did not (the caller then reads it itself). Valid for the request that
 * authenticated only.
 */
export function prefetchedCheckInState(
  principal: DevicePrincipal,
): PrefetchedCheckInState | undefined {
  return checkInStates.get(principal);
}

/**
 * Per-device bearer tokens, stored as SHA-256; decommissioned or not `accepted` devices and revoked
 * tokens fail; a tenant whose `pki_settings` forbid bearer tokens gets
 * `DEVICE_BEARER_TOKENS_FORBIDDEN`. With a {@link DeviceSessionCache} a known token costs no
 * database round trip (admission and settings changes reach it through the change feed).
 */
export class BearerDeviceAuthenticator implements DeviceAuthenticator {
  // Compiled once: every device request runs this lookup, so skip Kysely's per-call build.
  private readonly lookup;
  readonly #shared = new SharedStrings(10_000);

  constructor(
    db: Kysely<Database>,
    private readonly sessions?: DeviceSessionCache,
  ) {
    this.lookup = preparedQuery(db, ['tokenHash'], (p) =>
      db
        .selectFrom('device_tokens as t')
        .innerJoin('devices as d', (join) =>
          join.onRef('d.id', '=', 't.device_id').onRef('d.tenant_id', '=', 't.tenant_id'),
        )
        // The device's check-in state rides along (by its primary key and the unique open_key).
        .leftJoin('device_reports as r', 'r.device_id', 'd.id')
        .leftJoin('actions as a', (j) =>
          j.onRef('a.tenant_id', '=', 'd.tenant_id').onRef('a.open_key', '=', 'd.id'),
        )
        .leftJoin('pki_settings as s', 's.tenant_id', 'd.tenant_id')
        .select([
          'd.id as deviceId',
          'd.tenant_id as tenantId',
          'd.device_class_id as deviceClassId',
          'd.name as deviceName',
          't.id as credentialId',
          'r.report_digest as reportDigest',
          'a.id as actionId',
          's.bearer_tokens_allowed as bearerTokensAllowed',
        ])
        .where('t.token_hash', '=', p.tokenHash)
        .where('t.revoked_at', 'is', null)
        .where('d.decommissioned_at', 'is', null)
        .where('d.admission', '=', 'accepted'),
    );
  }

  async authenticate(source: DeviceCredentialSource): Promise<DevicePrincipal | null> {
    const token = bearerToken(source.headers);
    if (!token?.startsWith('updraft_device_')) return null;
    // The cache is keyed by the token itself (process memory only): a hit needs no hashing.
    const cached = this.sessions?.get(token);
    if (cached !== undefined) {
      if (cached.bearerTokensForbidden === true) throw bearerTokensForbidden();
      checkInStates.set(cached.principal, cached.state);
      return cached.principal;
    }
    const generation = this.sessions?.generation ?? 0;
    const [row] = await this.lookup({ tokenHash: hashToken(token) });
    if (!row) return null;
    const principal: DevicePrincipal = {
      kind: 'device',
      deviceId: row.deviceId,
      // Every row brings its own copy of these few distinct values; a cached session keeps one.
      tenantId: this.#shared.of(row.tenantId),
      deviceClassId: this.#shared.of(row.deviceClassId),
      credentialId: row.credentialId,
    };
    const state = {
      // Devices on the same firmware report alike: their digests are few distinct strings.
      reportDigest: row.reportDigest ? this.#shared.of(row.reportDigest) : null,
      actionId: row.actionId ?? null,
      deviceName: row.deviceName,
    };
    // No settings row: the default, bearer tokens allowed.
    const forbidden = row.bearerTokensAllowed === 0;
    this.sessions?.store(
      token,
      { principal, state, ...(forbidden ? { bearerTokensForbidden: true } : {}) },
      generation,
    );
    if (forbidden) throw bearerTokensForbidden();
    checkInStates.set(principal, state);
    return principal;
  }
}

function bearerTokensForbidden(): ServerError {
  return new ServerError(
    'DEVICE_BEARER_TOKENS_FORBIDDEN',
    "This tenant's devices must authenticate with their certificate (mutual TLS); bearer tokens are not allowed.",
  );
}
