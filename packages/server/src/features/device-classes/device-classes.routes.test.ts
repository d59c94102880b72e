import { generateKeyPairSync } from 'node:crypto';
import {
  classIdFromName,
  encodeCoseKey,
  formatUuid,
  keyObjectToCoseKey,
  vendorIdFromDomain,
} from '@updraft/core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDialect } from '../../testing/test-database.js';
import { createTestServer, type TestServer } from '../../testing/test-server.js';
import { trustedKeysForClass } from './device-class.repository.js';

const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ed = generateKeyPairSync('ed25519');
const pem = (k: typeof p256.publicKey) => k.export({ type: 'spki', format: 'pem' }).toString();

describeEachDialect('device classes and trusted keys', (dialect) => {
  let server: TestServer;
  let headers: Record<string, string>;
  let classId: string;
  beforeAll(async () => {
    server = await createTestServer(dialect);
    headers = await server.adminHeaders();
  });
  afterAll(() => server?.close());

  const inject = (method: 'GET' | 'POST', url: string, payload?: object) =>
    server.app.inject({ method, url: `/api/v1${url}`, headers, ...(payload ? { payload } : {}) });

  it('derives vendor-id and class-id from names with UUIDv5 as SUIT specifies', async () => {
    const res = await inject('POST', '/device-classes', {
      name: 'thermostat-b',
      vendorName: 'example.com',
      modelName: 'Thermostat rev B',
    });
    expect(res.statusCode).toBe(201);
    const vendor = vendorIdFromDomain('example.com');
    expect(res.json()).toMatchObject({
      name: 'thermostat-b',
      vendorId: formatUuid(vendor),
      classId: formatUuid(classIdFromName(vendor, 'Thermostat rev B')),
    });
    classId = res.json().id;
  });

  it('takes explicit UUIDs and refuses a duplicate pair or name', async () => {
    const ids = {
      vendorId: 'fa6b4a53-d5ad-5fdf-be9d-e663e4d41ffe',
      classId: '1492af14-2569-5e48-bf42-9b2d51f2ab45',
    };
    const res = await inject('POST', '/device-classes', { name: 'explicit', ...ids });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject(ids);
    expect((await inject('POST', '/device-classes', { name: 'other', ...ids })).json().code).toBe(
      'RESOURCE_CONFLICT',
    );
    expect(
      (
        await inject('POST', '/device-classes', {
          name: 'explicit',
          vendorName: 'a.example',
          modelName: 'm',
        })
      ).json().code,
    ).toBe('RESOURCE_CONFLICT');
    expect(
      (await inject('POST', '/device-classes', { name: 'half', vendorName: 'a.example' })).json()
        .code,
    ).toBe('RESOURCE_INVALID');
  });

  it('adds a P-256 PEM key and an Ed25519 COSE_Key, each with its RFC 9679 kid', async () => {
    const a = await inject('POST', `/device-classes/${classId}/keys`, {
      format: 'pem',
      key: pem(p256.publicKey),
    });
    expect(a.statusCode).toBe(201);
    expect(a.json()).toMatchObject({ algorithm: 'es256', format: 'pem', revokedAt: null });
    expect(a.json().kid).toMatch(/^[0-9a-f]{64}$/);
    const cose = Buffer.from(encodeCoseKey(keyObjectToCoseKey(ed.publicKey))).toString('hex');
    const b = await inject('POST', `/device-classes/${classId}/keys`, {
      format: 'cose_key',
      key: cose,
    });
    expect(b.statusCode).toBe(201);
    expect(b.json()).toMatchObject({ algorithm: 'ed25519', format: 'cose_key' });
    expect(b.json().publicKeyPem).toBe(pem(ed.publicKey));
    expect(
      (
        await inject('POST', `/device-classes/${classId}/keys`, {
          format: 'pem',
          key: pem(p256.publicKey),
        })
      ).json().code,
    ).toBe('RESOURCE_CONFLICT');
  });

  it('refuses private keys, garbage and unsupported key types, storing nothing', async () => {
    const before = (await inject('GET', `/device-classes/${classId}/keys`)).json().items.length;
    const privatePem = p256.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    for (const body of [
      { format: 'pem', key: privatePem },
      { format: 'pem', key: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n' },
      { format: 'pem', key: pem(rsa) },
      { format: 'cose_key', key: 'zz' },
      { format: 'cose_key', key: 'a10102' },
    ]) {
      const res = await inject('POST', `/device-classes/${classId}/keys`, body);
      expect(res.statusCode, JSON.stringify(body).slice(0, 60)).toBe(422);
      expect(res.json().code).toBe('RESOURCE_INVALID');
    }
    expect((await inject('GET', `/device-classes/${classId}/keys`)).json().items.length).toBe(
      before,
    );
  });

  it('revokes a key, recording who, when and why; verification no longer sees it', async () => {
    const keys = (await inject('GET', `/device-classes/${classId}/keys`)).json().items;
    const target = keys.find((k: { algorithm: string }) => k.algorithm === 'es256');
    const res = await inject('POST', `/device-classes/${classId}/keys/${target.id}/revoke`, {
      reason: 'leaked',
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ revocationReason: 'leaked' });
    expect(res.json().revokedAt).not.toBeNull();
    expect(res.json().revokedBy).toMatch(/^usr_/);
    const trusted = await trustedKeysForClass(server.app.updraft.db, 'ten_default', classId);
    expect(trusted.map((k) => k.id)).not.toContain(target.id);
    expect(trusted).toHaveLength(1);
    expect(
      (await inject('POST', `/device-classes/${classId}/keys/${target.id}/revoke`, {})).json().code,
    ).toBe('RESOURCE_CONFLICT');
    // A revoked key cannot be re-added to slip back in.
    expect(
      (
        await inject('POST', `/device-classes/${classId}/keys`, {
          format: 'pem',
          key: pem(p256.publicKey),
        })
      ).json().code,
    ).toBe('RESOURCE_CONFLICT');
  });

  it('answers 404 for unknown classes and keys', async () => {
    expect((await inject('GET', '/device-classes/cls_nope')).statusCode).toBe(404);
    expect((await inject('GET', '/device-classes/cls_nope/keys')).statusCode).toBe(404);
    expect(
      (await inject('POST', `/device-classes/${classId}/keys/key_nope/revoke`, {})).statusCode,
    ).toBe(404);
  });
});
