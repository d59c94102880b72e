import type { Role } from './permissions.js';

/** A signed-in management user (session or API token). */
export interface UserPrincipal {
  readonly kind: 'user';
  readonly tenantId: string;
  readonly userId: string;
  readonly username: string;
  readonly roles: readonly Role[];
  readonly tokenId: string;
  /** A login session (expires) or a named API token. */
  readonly tokenKind: 'session' | 'api';
  /** The password was generated or reset: only the password change is allowed until done. */
  readonly mustChangePassword: boolean;
}

/** An authenticated device. */
export interface DevicePrincipal {
  readonly kind: 'device';
  readonly tenantId: string;
  readonly deviceId: string;
  readonly deviceClassId: string;
  /**
   * Id of the credential (device token) the device authenticated with. Signed download URLs name
   * it, so rotating the token stops them (signed-url/download-grant.repository.ts). Absent when
   * the channel authenticated the device itself (an MQTT broker, features/device-mqtt): its URLs
   * then hold while the device and the action do.
   */
  readonly credentialId?: string;
}

/** Who is calling, once authentication ran. */
export type Principal = UserPrincipal | DevicePrincipal;
