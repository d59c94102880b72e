import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { deviceTopicRoot } from '@updraft/core';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaKeyBox, loadTenantCa } from '../features/pki/tenant-ca.js';
import { DEFAULT_TENANT_ID } from '../tenants/tenant.repository.js';
import { type Fleet, seedFleet, uploadRelease } from '../testing/release-fixtures.js';
import { createTestServer, type TestServer } from '../testing/test-server.js';

// The embedded broker of a real server (TLS over loopback, real aedes, real mqtt.js clients,
// device certificates made by the real openssl and signed by the tenant's CA).

let server: TestServer;
let fleet: Fleet;
let port: number;
let ca: string;
let headers: Record<string, string>;
let tmp: string;
const clients: MqttClient[] = [];

function connect(extra: mqtt.IClientOptions): Promise<MqttClient> {
  const client = mqtt.connect(`mqtts://127.0.0.1:${port}`, {
    protocolVersion: 4,
    ca,
    servername: 'localhost',
    reconnectPeriod: 0,
    connectTimeout: 5_000,
    ...extra,
  });
  clients.push(client);
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', reject);
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
}

function nextMessage(client: MqttClient): Promise<{ topic: string; body: unknown; at: number }> {
  return new Promise((resolve) =>
    client.once('message', (topic, payload) =>
      resolve({ topic, body: JSON.parse(payload.toString()), at: performance.now() }),
    ),
  );
}

/** A device key and certificate `O=<tenant>, CN=<name>` made by openssl, signed by `issuer`. */
async function opensslDeviceCertificate(
  name: string,
  issuer: { certificatePem: string; privateKeyPem: string },
): Promise<{ cert: string; key: string }> {
  const dir = await mkdtemp(path.join(tmp, 'dev-'));
  await writeFile(path.join(dir, 'ca.pem'), issuer.certificatePem);
  await writeFile(path.join(dir, 'ca.key'), issuer.privateKeyPem);
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'dev.key']);
  run([
    'req',
    '-new',
    '-key',
    'dev.key',
    '-subj',
    `/O=${DEFAULT_TENANT_ID}/CN=${name}`,
    '-out',
    'dev.csr',
  ]);
  await writeFile(
    path.join(dir, 'ext'),
    'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n',
  );
  run([
    'x509',
    '-req',
    '-in',
    'dev.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '30',
    '-extfile',
    'ext',
    '-out',
    'dev.pem',
  ]);
  return {
    cert: await readFile(path.join(dir, 'dev.pem'), 'utf8'),
    key: await readFile(path.join(dir, 'dev.key'), 'utf8'),
  };
}

async function recordCertificate(deviceId: string, cert: string): Promise<string> {
  const x = new X509Certificate(cert);
  const id = `crt_${deviceId}`;
  await server.app.updraft.db
    .insertInto('device_certificates')
    .values({
      id,
      tenant_id: DEFAULT_TENANT_ID,
      device_id: deviceId,
      serial: x.serialNumber.toLowerCase(),
      fingerprint: createHash('sha256').update(x.raw).digest('hex'),
      spki_fingerprint: createHash('sha256')
        .update(x.publicKey.export({ type: 'spki', format: 'der' }))
        .digest('hex'),
      certificate_pem: cert,
      not_before: new Date(x.validFrom).toISOString(),
      not_after: new Date(x.validTo).toISOString(),
      issued_at: new Date().toISOString(),
      issued_via: 'est-token',
      state: 'active',
      superseded_at: null,
      revoked_at: null,
      revocation_reason: null,
      revoked_by: null,
    })
    .execute();
  return id;
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'updraft-mqtt-'));
  server = await createTestServer('sqlite', { mqtt: { mode: 'embedded', port: 0 } });
  fleet = await seedFleet(server.app.updraft.db, { tenantId: DEFAULT_TENANT_ID, deviceCount: 4 });
  port = (await server.app.wiring.mqtt.start()) as number;
  ca = await readFile(path.join(server.dataDir, 'pki', 'ca.pem'), 'utf8');
  headers = await server.adminHeaders();
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.end(true);
  await server?.close();
  await rm(tmp, { recursive: true, force: true });
});

const root = (i: number) => deviceTopicRoot(DEFAULT_TENANT_ID, fleet.devices[i]!.id);

describe('embedded MQTT broker', () => {
  it('delivers a new action notice within one second of assignment, and the check-in then carries the action and the push endpoint', async () => {
    const device = fleet.devices[0]!;
    const client = await connect({ username: 'ignored', password: device.token });
    await client.subscribeAsync(`${root(0)}/notify`, { qos: 1 });
    const releaseId = await uploadRelease(server.app, headers, fleet, 1, [Buffer.from('fw-1')]);
    const arrived = nextMessage(client);
    const t0 = performance.now();
    const res = await server.app.inject({
      method: 'POST',
      url: '/api/v1/actions',
      headers: { ...headers, 'content-type': 'application/json' },
      payload: { deviceId: device.id, releaseId },
    });
    expect(res.statusCode).toBe(201);
    const actionId = (JSON.parse(res.body) as { id: string }).id;
    const notice = await arrived;
    expect(notice.at - t0).toBeLessThan(1000);
    expect(notice.topic).toBe(`${root(0)}/notify`);
    expect(notice.body).toMatchObject({ type: 'action-available', actionId });
    const checkIn = await server.app.inject({
      method: 'POST',
      url: '/api/device/v1/check-in',
      headers: { authorization: `Bearer ${device.token}`, 'content-type': 'application/json' },
      payload: { components: [], attributes: {} },
    });
    const body = JSON.parse(checkIn.body) as {
      action: { id: string } | null;
      push?: { url: string; topicRoot: string };
    };
    expect(body.action?.id).toBe(actionId);
    expect(body.push).toEqual({ url: `mqtts://localhost:${port}`, topicRoot: root(0) });

    // Cancel: the notice says so.
    const cancelled = nextMessage(client);
    const cancel = await server.app.inject({
      method: 'POST',
      url: `/api/v1/actions/${actionId}/cancel`,
      headers,
    });
    expect(cancel.statusCode).toBe(200);
    expect((await cancelled).body).toMatchObject({ type: 'action-cancelled', actionId });
  });

  it("refuses a subscription to another device's topic and closes a device publishing on another's", async () => {
    const client = await connect({ username: 'device', password: fleet.devices[1]!.token });
    // mqtt.js rejects a SUBACK granting 0x80 (the broker refused the filter).
    await expect(client.subscribeAsync(`${root(2)}/notify`, { qos: 1 })).rejects.toThrow(
      /Subscribe error/,
    );
    await expect(client.subscribeAsync('updraft/v1/#', { qos: 1 })).rejects.toThrow(
      /Subscribe error/,
    );
    const own = await client.subscribeAsync(`${root(1)}/notify`, { qos: 1 });
    expect(own[0]?.qos).toBe(1);
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish(`${root(2)}/req`, 'x', { qos: 1 });
    await closed;
    const metrics = await server.app.updraft.metrics.registry.metrics();
    expect(metrics).toMatch(
      /updraft_pki_refusals_total\{channel="mqtt",reason="subscribe-denied"\} [2-9]/,
    );
    expect(metrics).toMatch(
      /updraft_pki_refusals_total\{channel="mqtt",reason="publish-denied"\} [1-9]/,
    );
  });

  it('refuses a connection without credentials, with a bad token, an unknown certificate or a certificate of another CA', async () => {
    await expect(connect({})).rejects.toThrow();
    await expect(
      connect({ username: 'device', password: 'updraft_device_not-a-real-token-000000' }),
    ).rejects.toThrow(/Not authorized|Bad username/);
    expect(await server.app.updraft.metrics.registry.metrics()).toMatch(
      /reason="token-invalid"} [1-9]/,
    );
    const tenantCa = await loadTenantCa(
      server.app.updraft.db,
      new CaKeyBox(server.app.updraft.deriveKey('pki-ca-key')),
      DEFAULT_TENANT_ID,
    );
    const unknown = await opensslDeviceCertificate(fleet.devices[3]!.id, tenantCa!);
    await expect(connect(unknown)).rejects.toThrow();
    // Another CA (self-signed by openssl), even with the device's recorded fingerprint unknown.
    const dir = await mkdtemp(path.join(tmp, 'other-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-subj',
        '/CN=other CA',
        '-keyout',
        'k.pem',
        '-out',
        'c.pem',
        '-days',
        '2',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
      ],
      { cwd: dir, stdio: 'pipe' },
    );
    const other = {
      certificatePem: await readFile(path.join(dir, 'c.pem'), 'utf8'),
      privateKeyPem: await readFile(path.join(dir, 'k.pem'), 'utf8'),
    };
    const foreign = await opensslDeviceCertificate(fleet.devices[3]!.id, other);
    // Even recorded in the inventory, a certificate that does not chain to the tenant CA fails.
    await recordCertificate(fleet.devices[3]!.id, foreign.cert);
    await expect(connect(foreign)).rejects.toThrow();
    const metrics = await server.app.updraft.metrics.registry.metrics();
    expect(metrics).toMatch(/reason="unknown"\} [1-9]/);
    expect(metrics).toMatch(/reason="untrusted-chain"\} [1-9]/);
    expect(metrics).toMatch(/reason="no-credentials"\} [1-9]/);
  });

  it('accepts a device certificate O=<tenant>, CN=<name> and closes its open connection at once when it is revoked', async () => {
    const device = fleet.devices[2]!;
    const tenantCa = await loadTenantCa(
      server.app.updraft.db,
      new CaKeyBox(server.app.updraft.deriveKey('pki-ca-key')),
      DEFAULT_TENANT_ID,
    );
    const { cert, key } = await opensslDeviceCertificate(device.id, tenantCa!);
    const certificateId = await recordCertificate(device.id, cert);
    const client = await connect({ cert, key });
    const own = await client.subscribeAsync(`${root(2)}/notify`, { qos: 1 });
    expect(own[0]?.qos).toBe(1);
    const closed = new Promise<number>((resolve) =>
      client.once('close', () => resolve(performance.now())),
    );
    const t0 = performance.now();
    await server.app.updraft.db
      .updateTable('device_certificates')
      .set({
        state: 'revoked',
        revoked_at: new Date().toISOString(),
        revocation_reason: 'keyCompromise',
      })
      .where('id', '=', certificateId)
      .execute();
    expect((await closed) - t0).toBeLessThan(1000);
    await expect(connect({ cert, key })).rejects.toThrow();
  });
});
