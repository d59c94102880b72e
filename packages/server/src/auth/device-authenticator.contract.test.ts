import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { ensureTenant } from '../tenants/tenant.repository.js';
import type {
  ContractDevice,
  DeviceAuthenticatorFixture,
} from '../testing/device-authenticator.contract.js';
import { runDeviceAuthenticatorContract } from '../testing/device-authenticator.contract.js';
import { type Dialect, describeEachDialect, openTestDatabase } from '../testing/test-database.js';
import { CertificateDeviceAuthenticator } from '../tls/certificate-device-authenticator.js';
import { BearerDeviceAuthenticator } from './device-authenticator.js';
import { DeviceSessionCache } from './device-session-cache.js';
import { hashToken, newId, newToken } from './secrets.js';

// Every DeviceAuthenticator implementation runs the same contract: bearer tokens read from the
// database each time, and through the session cache (kept exact by the device change feed).
async function bearerFixture(
  dialect: Dialect,
  cached: boolean,
): Promise<DeviceAuthenticatorFixture & { readonly db: Kysely<Database> }> {
  const t = await openTestDatabase(dialect);
  const { db, deviceChanges } = t.handle;
  const sessions = cached
    ? new DeviceSessionCache(deviceChanges, { maxEntries: 1000, maxAgeMs: 3_600_000 })
    : undefined;
  const authenticator = new BearerDeviceAuthenticator(db, sessions);
  const at = () => new Date().toISOString();
  const classes = new Map<string, string>();
  const issue = async (tenantId: string, deviceId: string) => {
    const token = newToken('device');
    const credentialId = newId('dtk');
    await db
      .insertInto('device_tokens')
      .values({
        id: credentialId,
        tenant_id: tenantId,
        device_id: deviceId,
        token_hash: hashToken(token),
        created_at: at(),
        revoked_at: null,
      })
      .execute();
    return { headers: { authorization: `Bearer ${token}` }, credentialId };
  };
  // Changes are written as the service writes them, then announced after commit like its write
  // paths do; settled() waits until the feed delivered them (PostgreSQL NOTIFY is asynchronous).
  const changed = async (p: ContractDevice['principal']) => {
    deviceChanges.announce(p.tenantId, p.deviceId);
    await deviceChanges.settled();
  };
  const revokeAll = (p: ContractDevice['principal']) =>
    db
      .updateTable('device_tokens')
      .set({ revoked_at: at() })
      .where('tenant_id', '=', p.tenantId)
      .where('device_id', '=', p.deviceId)
      .where('revoked_at', 'is', null)
      .execute();
  return {
    db,
    authenticator,
    async register(tenantId) {
      await ensureTenant(db, tenantId, tenantId, at());
      let classId = classes.get(tenantId);
      if (classId === undefined) {
        classId = newId('cls');
        await db
          .insertInto('device_classes')
          .values({
            id: classId,
            tenant_id: tenantId,
            name: classId,
            vendor_name: null,
            model_name: null,
            vendor_id: '00000000-0000-5000-8000-000000000001',
            class_id: '00000000-0000-5000-8000-000000000002',
            created_at: at(),
          })
          .execute();
        classes.set(tenantId, classId);
      }
      const deviceId = newId('dev');
      await db
        .insertInto('devices')
        .values({
          id: deviceId,
          tenant_id: tenantId,
          name: deviceId,
          device_class_id: classId,
          created_at: at(),
          last_seen_at: null,
          decommissioned_at: null,
        })
        .execute();
      const { headers, credentialId } = await issue(tenantId, deviceId);
      return {
        headers,
        principal: { kind: 'device', tenantId, deviceId, deviceClassId: classId, credentialId },
      };
    },
    async revoke(device) {
      await revokeAll(device.principal);
      await changed(device.principal);
    },
    async rotate(device) {
      await revokeAll(device.principal);
      const { headers, credentialId } = await issue(
        device.principal.tenantId,
        device.principal.deviceId,
      );
      await changed(device.principal);
      return { headers, principal: { ...device.principal, credentialId } };
    },
    async decommission(device) {
      const p = device.principal;
      await db
        .updateTable('devices')
        .set({ decommissioned_at: at() })
        .where('tenant_id', '=', p.tenantId)
        .where('id', '=', p.deviceId)
        .execute();
      await revokeAll(p);
      await changed(p);
    },
    dispose: () => t.dispose(),
  };
}

describeEachDialect('device authenticators', (dialect) => {
  runDeviceAuthenticatorContract(`BearerDeviceAuthenticator [${dialect}]`, () =>
    bearerFixture(dialect, false),
  );
  runDeviceAuthenticatorContract(`BearerDeviceAuthenticator with session cache [${dialect}]`, () =>
    bearerFixture(dialect, true),
  );
  // The server's authenticator: requests without a client certificate take the bearer path.
  runDeviceAuthenticatorContract(
    `CertificateDeviceAuthenticator, bearer path [${dialect}]`,
    async () => {
      const bearer = await bearerFixture(dialect, true);
      return {
        ...bearer,
        authenticator: new CertificateDeviceAuthenticator({
          db: bearer.db,
          fallback: bearer.authenticator,
          now: () => new Date(),
          rotationGraceSeconds: 60,
        }),
      };
    },
  );
});
