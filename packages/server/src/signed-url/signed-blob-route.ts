import type { FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { Type } from 'typebox';
import type { DeviceAuthenticator } from '../auth/device-authenticator.js';
import type { Database } from '../db/database.js';
import { ServerError } from '../errors.js';
import { downloadGrantHolds } from './download-grant.repository.js';
import type { SignedUrl, SignedUrlClaims, SignedUrlQuery } from './signed-url.js';

/**
 * Route schema of a download through a signed URL (payloads and delta patches): the artifact's
 * digest in the path and the signature's claims (`t`, `d`, `exp`, `sig`) in the query. The
 * handler verifies them with {@link verifySignedBlobRequest}; the schema only bounds their sizes.
 */
export function signedBlobRouteSchema(summary: string) {
  return {
    summary,
    tags: ['device'],
    params: Type.Object({ digest: Type.String({ maxLength: 128 }) }),
    querystring: Type.Object({
      t: Type.Optional(Type.String({ maxLength: 128 })),
      d: Type.Optional(Type.String({ maxLength: 128 })),
      a: Type.Optional(Type.String({ maxLength: 128 })),
      k: Type.Optional(Type.String({ maxLength: 128 })),
      exp: Type.Optional(Type.String({ maxLength: 20 })),
      sig: Type.Optional(Type.String({ maxLength: 128 })),
    }),
  };
}

/**
 * The claims of a signed-URL download, once verified: signature and expiry first (see
 * {@link SignedUrl.verify}: nothing else runs for a forged URL), then that what the URL was
 * issued under still holds — the device is not decommissioned, its credential was not rotated
 * away, the action is still open (`DEVICE_URL_REVOKED` otherwise) — and, when the caller also
 * sends a device credential, that it is the device the URL was issued to (a leaked URL is not a
 * way to act as another device).
 */
export async function verifySignedBlobRequest(
  urls: SignedUrl,
  server: { readonly deviceAuth: DeviceAuthenticator; readonly db: Kysely<Database> },
  request: FastifyRequest,
  nowMs: number,
): Promise<SignedUrlClaims> {
  const { deviceAuth, db } = server;
  const { digest } = request.params as { digest: string };
  const claims = await verifySignedBlob(
    urls,
    db,
    digest,
    request.query as Record<string, string | undefined>,
    nowMs,
  );
  if (request.headers.authorization !== undefined) {
    const caller = await deviceAuth.authenticate({ headers: request.headers });
    if (caller !== null) refuseOtherDevice(claims, caller);
  }
  return claims;
}

/**
 * The channel-neutral part of {@link verifySignedBlobRequest}: signature and expiry, then that
 * the grant still holds. The device API over MQTT runs it too, then {@link refuseOtherDevice}
 * with the device the broker authenticated.
 */
export async function verifySignedBlob(
  urls: SignedUrl,
  db: Kysely<Database>,
  digest: string,
  query: SignedUrlQuery,
  nowMs: number,
): Promise<SignedUrlClaims> {
  const claims = urls.verify(digest, query, nowMs);
  if (!(await downloadGrantHolds(db, claims))) {
    throw new ServerError(
      'DEVICE_URL_REVOKED',
      'this download URL no longer holds (device decommissioned, credential rotated or action closed)',
    );
  }
  return claims;
}

/** `DEVICE_URL_INVALID` unless the URL was issued to `caller` (a leaked URL is no identity). */
export function refuseOtherDevice(
  claims: SignedUrlClaims,
  caller: { readonly tenantId: string; readonly deviceId: string },
): void {
  if (caller.deviceId !== claims.deviceId || caller.tenantId !== claims.tenantId) {
    throw new ServerError('DEVICE_URL_INVALID', 'this download URL was issued to another device');
  }
}
