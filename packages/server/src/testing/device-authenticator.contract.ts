import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceAuthenticator } from '../auth/device-authenticator.js';
import type { DevicePrincipal } from '../auth/principal.js';

/** A device as the contract sees it: the headers that carry its credential, and who it is. */
export interface ContractDevice {
  readonly headers: Readonly<Record<string, string>>;
  readonly principal: DevicePrincipal;
}

/** What an implementation's test gives the contract: an authenticator and how to change its devices. */
export interface DeviceAuthenticatorFixture {
  readonly authenticator: DeviceAuthenticator;
  /** Registers a device in `tenantId` (created when missing) with a fresh credential. */
  register(tenantId: string): Promise<ContractDevice>;
  /** Revokes the device's credential the way the service does (and announces the change). */
  revoke(device: ContractDevice): Promise<void>;
  /** Revokes the credential and issues a new one (rotation). */
  rotate(device: ContractDevice): Promise<ContractDevice>;
  /** Decommissions the device. */
  decommission(device: ContractDevice): Promise<void>;
  dispose(): Promise<void>;
}

/**
 * The behaviour every {@link DeviceAuthenticator} must show (bearer tokens with or without the
 * session cache now, mTLS later): a valid credential names exactly its device and tenant; no, a
 * malformed, a made-up, a user's, a revoked or a rotated-away credential, and a decommissioned
 * device's, name nobody — on the very next request, even after it was accepted (and cached).
 *
 * @example
 * runDeviceAuthenticatorContract('BearerDeviceAuthenticator [sqlite]', () => bearerFixture('sqlite'));
 */
export function runDeviceAuthenticatorContract(
  name: string,
  create: () => Promise<DeviceAuthenticatorFixture>,
): void {
  describe(`DeviceAuthenticator contract: ${name}`, () => {
    let f: DeviceAuthenticatorFixture;
    beforeAll(async () => {
      f = await create();
    });
    afterAll(() => f?.dispose());
    const as = (headers: Readonly<Record<string, string>>) =>
      f.authenticator.authenticate({ headers });

    it('names the device and tenant of a valid credential, every time', async () => {
      const device = await f.register('ten_contract_a');
      expect(await as(device.headers)).toEqual(device.principal);
      expect(await as(device.headers)).toEqual(device.principal);
    });

    it('takes the tenant from the credential: devices of two tenants stay apart', async () => {
      const a = await f.register('ten_contract_a');
      const b = await f.register('ten_contract_b');
      expect((await as(a.headers))?.tenantId).toBe('ten_contract_a');
      expect((await as(b.headers))?.tenantId).toBe('ten_contract_b');
    });

    it('names nobody without a credential, or with a malformed, made-up or user one', async () => {
      expect(await as({})).toBeNull();
      expect(await as({ authorization: 'Basic dXNlcjpwYXNz' })).toBeNull();
      expect(await as({ authorization: 'Bearer ' })).toBeNull();
      expect(await as({ authorization: `Bearer updraft_device_${'A'.repeat(43)}` })).toBeNull();
      expect(await as({ authorization: `Bearer updraft_api_${'A'.repeat(43)}` })).toBeNull();
      const device = await f.register('ten_contract_a');
      const token = device.headers.authorization ?? '';
      expect(await as({ authorization: `${token}x` })).toBeNull();
    });

    it('refuses a revoked credential on the next request, even one accepted before', async () => {
      const device = await f.register('ten_contract_a');
      expect(await as(device.headers)).not.toBeNull();
      await f.revoke(device);
      expect(await as(device.headers)).toBeNull();
    });

    it('accepts only the new credential after a rotation', async () => {
      const device = await f.register('ten_contract_a');
      expect(await as(device.headers)).not.toBeNull();
      const rotated = await f.rotate(device);
      expect(await as(device.headers)).toBeNull();
      // The same device, through its new credential.
      expect(await as(rotated.headers)).toEqual(rotated.principal);
      expect(rotated.principal).toEqual({ ...device.principal, credentialId: expect.any(String) });
      expect(rotated.principal.credentialId).not.toBe(device.principal.credentialId);
    });

    it('refuses a decommissioned device on the next request', async () => {
      const device = await f.register('ten_contract_a');
      expect(await as(device.headers)).not.toBeNull();
      await f.decommission(device);
      expect(await as(device.headers)).toBeNull();
    });
  });
}
