// @peculiar/x509 resolves its algorithm providers through tsyringe, which needs the Reflect API.
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, expect, it, type MockInstance, vi } from 'vitest';
import { describeEachDialect } from '../../testing/test-database.js';
import { createTestServer, type TestServer } from '../../testing/test-server.js';
import { CaKeyBox } from './tenant-ca.js';

describeEachDialect('public CA and CRL reads', (dialect) => {
  let server: TestServer;
  let admin: Record<string, string>;
  let dir: string;
  let unseal: MockInstance<CaKeyBox['open']>;

  const openssl = (args: string[], input?: Buffer | string) =>
    execFileSync('openssl', args, { cwd: dir, input, stdio: ['pipe', 'pipe', 'pipe'] });
  const get = (url: string, headers: Record<string, string> = {}) =>
    server.app.inject({ method: 'GET', url, headers });
  const crlText = async () => {
    const res = await get('/pki/default/crl');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/pkix-crl');
    writeFileSync(join(dir, 'crl.der'), res.rawPayload);
    // openssl checks the signature against the chain devices pin (silent when it verifies).
    expect(
      openssl([
        'crl',
        '-inform',
        'DER',
        '-in',
        'crl.der',
        '-CAfile',
        'ca.pem',
        '-noout',
      ]).toString(),
    ).toBe('');
    return {
      der: res.rawPayload,
      text: openssl(['crl', '-inform', 'DER', '-in', 'crl.der', '-noout', '-text']).toString(),
    };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'updraft-pki-public-'));
    server = await createTestServer(dialect);
    admin = await server.adminHeaders();
    // The chain devices pin (issuing CA then root), to check signatures with openssl.
    const ca = await get('/api/v1/pki/ca', admin);
    writeFileSync(join(dir, 'ca.pem'), (ca.json() as { chainPem: string }).chainPem);
    // From here on every unsealing of a tenant CA key is seen (the start made the default CA).
    unseal = vi.spyOn(CaKeyBox.prototype, 'open');
  }, 60_000);

  afterAll(async () => {
    unseal?.mockRestore();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves EST cacerts and the CA view without unsealing the CA key', async () => {
    const res = await get('/.well-known/est/cacerts');
    expect(res.statusCode).toBe(200);
    const der = openssl(['base64', '-d'], res.body);
    const printed = openssl(['pkcs7', '-inform', 'DER', '-print_certs'], der).toString();
    expect(printed).toMatch(/subject=CN\s?=\s?Updraft issuing CA default/);
    expect(printed).toMatch(/subject=CN\s?=\s?Updraft root CA default/);
    const view = await get('/api/v1/pki/ca', admin);
    expect(view.statusCode).toBe(200);
    expect(view.json()).toMatchObject({ source: 'generated' });
    expect(unseal).not.toHaveBeenCalled();
  });

  it('signs the CRL once, then serves the cached DER without unsealing; a revocation reissues it', async () => {
    unseal.mockClear();
    const first = await crlText();
    expect(unseal).toHaveBeenCalledTimes(1);
    unseal.mockClear();
    const again = await crlText();
    const third = await crlText();
    expect(Buffer.compare(again.der, first.der)).toBe(0);
    expect(Buffer.compare(third.der, first.der)).toBe(0);
    expect(unseal).not.toHaveBeenCalled();

    // A certificate to revoke, issued over EST (signing it unseals the key, as it must).
    const cls = await server.app.inject({
      method: 'POST',
      url: '/api/v1/device-classes',
      headers: admin,
      payload: { name: 'meter', vendorName: 'acme.example', modelName: 'meter' },
    });
    expect(cls.statusCode, cls.body).toBe(201);
    const device = await server.app.inject({
      method: 'POST',
      url: '/api/v1/devices',
      headers: admin,
      payload: { name: 'meter-1', deviceClassId: (cls.json() as { id: string }).id },
    });
    expect(device.statusCode, device.body).toBe(201);
    const token = (
      await server.app.inject({
        method: 'POST',
        url: '/api/v1/pki/enrollment-tokens',
        headers: admin,
        payload: { device: 'meter-1' },
      })
    ).json() as { token: string };
    const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair;
    const csr = await x509.Pkcs10CertificateRequestGenerator.create(
      { name: 'CN=ignored', keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } },
      webcrypto,
    );
    const enrolled = await server.app.inject({
      method: 'POST',
      url: '/.well-known/est/simpleenroll',
      headers: {
        authorization: `Basic ${Buffer.from(`meter-1:${token.token}`).toString('base64')}`,
        'content-type': 'application/pkcs10',
      },
      payload: Buffer.from(csr.rawData).toString('base64'),
    });
    expect(enrolled.statusCode, enrolled.body).toBe(200);
    const { serial } = (await get('/api/v1/pki/certificates/meter-1', admin)).json() as {
      serial: string;
    };
    const revoked = await server.app.inject({
      method: 'POST',
      url: `/api/v1/pki/certificates/${serial}/revoke`,
      headers: admin,
      payload: { reason: 'keyCompromise' },
    });
    expect(revoked.statusCode, revoked.body).toBe(200);

    unseal.mockClear();
    const reissued = await crlText();
    expect(unseal).toHaveBeenCalledTimes(1);
    expect(reissued.text.toUpperCase()).toContain(`SERIAL NUMBER: ${serial.toUpperCase()}`);
    expect(first.text.toUpperCase()).not.toContain(serial.toUpperCase());
    unseal.mockClear();
    const cachedAgain = await crlText();
    expect(Buffer.compare(cachedAgain.der, reissued.der)).toBe(0);
    expect(unseal).not.toHaveBeenCalled();
  });
});
