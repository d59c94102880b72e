import type { DeviceAuthenticator, DeviceCredentialSource } from './device-authenticator.js';
import type { DevicePrincipal } from './principal.js';

/**
 * Tries authenticators in order and answers the first device found (`null` when none knows
 * the credential). Each one looks only at credentials of its own shape, so order matters only
 * for cost: put the most common first.
 */
export class FirstDeviceAuthenticator implements DeviceAuthenticator {
  constructor(private readonly chain: readonly DeviceAuthenticator[]) {}

  async authenticate(source: DeviceCredentialSource): Promise<DevicePrincipal | null> {
    for (const authenticator of this.chain) {
      const device = await authenticator.authenticate(source);
      if (device !== null) return device;
    }
    return null;
  }
}
