import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createIssuingCa, createRootCa } from '../pki/pki.js';
import { issueTestDeviceCertificate } from '../testing/device-certificates.js';
import { addDevice, type Fleet, seedFleet } from '../testing/release-fixtures.js';
import {
  describeEachDialect,
  openTestDatabase,
  type TestDatabase,
} from '../testing/test-database.js';
import { identifyDeviceCertificate } from './certificate-identity.js';

const DAY = 86_400_000;
const GRACE = { rotationGraceSeconds: 3600 };

describeEachDialect('identifyDeviceCertificate', (dialect) => {
  let t: TestDatabase;
  let fleet: Fleet;
  const caKey = randomBytes(32);
  const deviceOf = (i: number) => {
    const id = fleet.devices[i]!.id;
    return { tenantId: fleet.tenantId, deviceId: id, deviceName: id };
  };
  beforeAll(async () => {
    t = await openTestDatabase(dialect);
    fleet = await seedFleet(t.handle.db, { deviceCount: 3 });
  });
  afterAll(() => t?.dispose());
  const identify = (chain: readonly string[], now = new Date()) =>
    identifyDeviceCertificate(t.handle.db, chain, now, GRACE);

  it('identifies the device of an active certificate, and only that device', async () => {
    const a = await issueTestDeviceCertificate(t.handle.db, caKey, deviceOf(0));
    const b = await issueTestDeviceCertificate(t.handle.db, caKey, deviceOf(1));
    expect(await identify([a.certificatePem])).toEqual({
      ok: true,
      device: {
        tenantId: fleet.tenantId,
        deviceId: fleet.devices[0]!.id,
        deviceName: fleet.devices[0]!.id,
        deviceClassId: fleet.deviceClassId,
        certificateId: a.id,
      },
    });
    expect(await identify([b.certificatePem])).toMatchObject({
      ok: true,
      device: { deviceId: fleet.devices[1]!.id, certificateId: b.id },
    });
  });

  it('refuses a certificate that is not in the inventory, and garbage, as unknown', async () => {
    const loose = await issueTestDeviceCertificate(t.handle.db, caKey, deviceOf(0), {
      store: false,
    });
    expect(await identify([loose.certificatePem])).toEqual({ ok: false, reason: 'unknown' });
    expect(await identify([])).toEqual({ ok: false, reason: 'unknown' });
    expect(await identify(['not a certificate'])).toEqual({ ok: false, reason: 'unknown' });
  });

  it('refuses a revoked certificate', async () => {
    const c = await issueTestDeviceCertificate(t.handle.db, caKey, deviceOf(0), {
      state: 'revoked',
    });
    expect(await identify([c.certificatePem])).toEqual({ ok: false, reason: 'revoked' });
  });

  it('accepts a superseded certificate within the rotation grace and refuses it after', async () => {
    const supersededAt = new Date();
    const c = await issueTestDeviceCertificate(t.handle.db, caKey, deviceOf(0), {
      state: 'superseded',
      supersededAt: supersededAt.toISOString(),
    });
    const within = new Date(supersededAt.getTime() + 3599_000);
    const after = new Date(supersededAt.getTime() + 3601_000);
    expect(await identify([c.certificatePem], within)).toMatchObject({ ok: true });
    expect(await identify([c.certificatePem], after)).toEqual({ ok: false, reason: 'revoked' });
  });

  it('refuses an expired and a not-yet-valid certificate', async () => {
    const expired = await issueTestDeviceCertificate(t.handle.db, caKey, deviceOf(0), {
      now: new Date(Date.now() - 10 * DAY),
      validityDays: 2,
    });
    expect(await identify([expired.certificatePem])).toEqual({ ok: false, reason: 'expired' });
    const future = await issueTestDeviceCertificate(t.handle.db, caKey, deviceOf(0), {
      now: new Date(Date.now() + 2 * DAY),
    });
    expect(await identify([future.certificatePem])).toEqual({
      ok: false,
      reason: 'not-yet-valid',
    });
  });

  it('refuses a stored certificate of another CA with the same subject as untrusted-chain', async () => {
    const now = new Date();
    const root = await createRootCa({
      commonName: 'Updraft root CA ten_default',
      validityDays: 9,
      now,
    });
    const other = await createIssuingCa(root, {
      commonName: `Updraft issuing CA ${fleet.tenantId}`,
      validityDays: 9,
      now,
    });
    const c = await issueTestDeviceCertificate(t.handle.db, caKey, deviceOf(0), { issuer: other });
    expect(await identify([c.certificatePem])).toEqual({ ok: false, reason: 'untrusted-chain' });
    // Presenting the other CA as an intermediate changes nothing: trust is the tenant's chain.
    expect(await identify([c.certificatePem, other.certificatePem, root.certificatePem])).toEqual({
      ok: false,
      reason: 'untrusted-chain',
    });
  });

  it("refuses a certificate naming another device than the one it is stored for (device B's name on A's row)", async () => {
    const byName = await issueTestDeviceCertificate(t.handle.db, caKey, deviceOf(0), {
      deviceName: fleet.devices[1]!.id,
    });
    expect(await identify([byName.certificatePem])).toEqual({
      ok: false,
      reason: 'device-mismatch',
    });
    const byId = await issueTestDeviceCertificate(t.handle.db, caKey, deviceOf(0), {
      deviceIdInCertificate: fleet.devices[1]!.id,
    });
    expect(await identify([byId.certificatePem])).toEqual({
      ok: false,
      reason: 'device-mismatch',
    });
  });

  it('refuses the certificate of a pending, rejected or decommissioned device', async () => {
    const dev = await addDevice(t.handle.db, fleet.tenantId, fleet.deviceClassId);
    const c = await issueTestDeviceCertificate(t.handle.db, caKey, {
      tenantId: fleet.tenantId,
      deviceId: dev.id,
      deviceName: dev.id,
    });
    expect(await identify([c.certificatePem])).toMatchObject({ ok: true });
    const set = (values: { admission?: string; decommissioned_at?: string | null }) =>
      t.handle.db.updateTable('devices').set(values).where('id', '=', dev.id).execute();
    for (const admission of ['pending', 'rejected']) {
      await set({ admission });
      expect(await identify([c.certificatePem])).toEqual({
        ok: false,
        reason: 'device-not-accepted',
      });
    }
    await set({ admission: 'accepted', decommissioned_at: new Date().toISOString() });
    expect(await identify([c.certificatePem])).toEqual({
      ok: false,
      reason: 'device-not-accepted',
    });
  });
});
