import type { Kysely } from 'kysely';
import {
  bearerToken,
  type DeviceAuthenticator,
  type DeviceCredentialSource,
} from '../../auth/device-authenticator.js';
import type { DevicePrincipal } from '../../auth/principal.js';
import type { Database } from '../../db/database.js';
import { acceptedAuthSet } from './mender.repository.js';
import type { MenderJwt } from './mender-jwt.js';

/**
 * Devices holding a Mender token (`Authorization: Bearer <JWT>`, docs/mender-api.md). The token
 * is checked for signature and expiry, then — on every request, so a rejection, decommission
 * or auth set change applies at once — that its auth set is accepted and its device accepted
 * and live (one indexed statement). Anything else is `null` (401 at the access check).
 */
export class MenderJwtAuthenticator implements DeviceAuthenticator {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly jwt: MenderJwt,
    private readonly now: () => Date,
  ) {}

  async authenticate(source: DeviceCredentialSource): Promise<DevicePrincipal | null> {
    const token = bearerToken(source.headers);
    // JWTs start with the base64url of '{"'; device and user tokens never do.
    if (token === undefined || !token.startsWith('eyJ')) return null;
    const claims = this.jwt.verify(token, this.now().getTime());
    if (claims === undefined) return null;
    const row = await acceptedAuthSet(this.db, claims.tenantId, claims.authSetId, claims.deviceId);
    if (row === undefined) return null;
    return {
      kind: 'device',
      tenantId: claims.tenantId,
      deviceId: claims.deviceId,
      deviceClassId: row.deviceClassId,
    };
  }
}
