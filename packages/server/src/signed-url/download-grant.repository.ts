import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import type { SignedUrlClaims } from './signed-url.js';
import '../features/actions/action.table.js';

/**
 * True while what a signed URL was issued under still holds: the device is not decommissioned,
 * the credential that checked in (`k`: a token or a certificate) is not revoked (token rotation
 * revokes it) and the action
 * (`a`) is still open. One statement, by primary keys; run only after the signature verified.
 */
export async function downloadGrantHolds(
  db: Kysely<Database>,
  claims: SignedUrlClaims,
): Promise<boolean> {
  const { tenantId, deviceId, actionId, credentialId } = claims;
  let query = db
    .selectFrom('devices as d')
    .select('d.id')
    .where('d.tenant_id', '=', tenantId)
    .where('d.id', '=', deviceId)
    .where('d.decommissioned_at', 'is', null);
  if (credentialId !== undefined) {
    // The credential is a bearer token (`dtk_…`) or a client certificate (`crt_…`, mTLS).
    query = query.where(({ exists, or, selectFrom }) =>
      or([
        exists(
          selectFrom('device_tokens as t')
            .select('t.id')
            .where('t.id', '=', credentialId)
            .where('t.tenant_id', '=', tenantId)
            .where('t.device_id', '=', deviceId)
            .where('t.revoked_at', 'is', null),
        ),
        exists(
          selectFrom('device_certificates as c')
            .select('c.id')
            .where('c.id', '=', credentialId)
            .where('c.tenant_id', '=', tenantId)
            .where('c.device_id', '=', deviceId)
            .where('c.state', '!=', 'revoked'),
        ),
      ]),
    );
  }
  if (actionId !== undefined) {
    query = query.where(({ exists, selectFrom }) =>
      exists(
        selectFrom('actions as a')
          .select('a.id')
          .where('a.id', '=', actionId)
          .where('a.tenant_id', '=', tenantId)
          .where('a.device_id', '=', deviceId)
          .where('a.open_key', 'is not', null),
      ),
    );
  }
  return (await query.executeTakeFirst()) !== undefined;
}
