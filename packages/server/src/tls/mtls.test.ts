import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { newId } from '../auth/secrets.js';
import { createIssuingCa, createRootCa } from '../pki/pki.js';
import {
  issueTestDeviceCertificate,
  type TestDeviceCertificate,
} from '../testing/device-certificates.js';
import {
  addDevice,
  type Fleet,
  insertReleaseAndAction,
  seedFleet,
} from '../testing/release-fixtures.js';
import { describeEachDialect } from '../testing/test-database.js';
import { createTestServer, type TestServer } from '../testing/test-server.js';

const DAY = 86_400_000;
const REPORT = JSON.stringify({ components: [{ id: '814100', version: '1.0.0' }] });

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
  /** The client's port: the same value means the same (keep-alive) connection. */
  readonly localPort: number | undefined;
}

/** One request over `agent` (TLS with the given client certificate, or plain HTTP). */
function send(
  url: string,
  agent: http.Agent,
  options: { method?: string; path: string; body?: string; headers?: Record<string, string> },
): Promise<Answer> {
  const target = new URL(options.path, url);
  const transport = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = transport.request(
      target,
      {
        method: options.method ?? 'POST',
        agent,
        headers: {
          ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...options.headers,
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (c: Buffer) => chunks.push(c));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: response.statusCode ?? 0,
            body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
            localPort: response.socket?.localPort,
          });
        });
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

describeEachDialect('mutual TLS on the device API', (dialect) => {
  let server: TestServer;
  let url: string;
  let ca: string;
  let fleet: Fleet;
  let caKey: Buffer;
  let nowMs = Date.now();
  const agents: http.Agent[] = [];

  beforeAll(async () => {
    server = await createTestServer(
      dialect,
      { tls: { enabled: true }, pki: { rotationGraceSeconds: 3600 } },
      { now: () => new Date(nowMs) },
    );
    await server.app.listen({ host: '127.0.0.1', port: 0 });
    const address = server.app.server.address();
    url = `https://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    ca = await readFile(path.join(server.dataDir, 'pki', 'ca.pem'), 'utf8');
    caKey = server.app.updraft.deriveKey('pki-ca-key');
    fleet = await seedFleet(server.app.updraft.db, {
      tenantId: 'ten_default',
      deviceCount: 2,
    });
  });
  afterAll(async () => {
    for (const agent of agents) agent.destroy();
    await server?.close();
  });

  const device = (i: number) => {
    const id = fleet.devices[i]!.id;
    return { tenantId: fleet.tenantId, deviceId: id, deviceName: id };
  };
  /** An agent presenting `cert` (one connection, kept alive), pinning the service's ca.pem. */
  const agentFor = (cert?: TestDeviceCertificate) => {
    const agent = new https.Agent({
      ca,
      keepAlive: true,
      maxSockets: 1,
      ...(cert ? { cert: cert.certificatePem, key: cert.privateKeyPem } : {}),
    });
    agents.push(agent);
    return agent;
  };
  const checkIn = (agent: http.Agent, headers: Record<string, string> = {}) =>
    send(url, agent, { path: '/api/device/v1/check-in', body: REPORT, headers });
  const refusals = async (reason: string) => {
    const text = (await server.app.inject({ method: 'GET', url: '/metrics' })).body;
    const sample = `updraft_pki_refusals_total{channel="device-api",reason="${reason}"} `;
    const line = text.split('\n').find((l) => l.startsWith(sample));
    return line === undefined ? 0 : Number(line.slice(sample.length));
  };
  const expectRefused = async (answer: Promise<Answer>, reason: string) => {
    const before = await refusals(reason);
    const { status, body } = await answer;
    expect({
      status,
      code: body.code,
      reason: (body.details as { reason?: string })?.reason,
    }).toEqual({ status: 401, code: 'DEVICE_CERTIFICATE_REFUSED', reason });
    expect(await refusals(reason)).toBe(before + 1);
  };

  it("acts as device A with A's certificate, never as B (not with B's action, not with B's token)", async () => {
    const db = server.app.updraft.db;
    const a = await issueTestDeviceCertificate(db, caKey, device(0));
    const actionOfB = newId('act');
    await insertReleaseAndAction(
      db,
      {
        tenantId: fleet.tenantId,
        deviceClassId: fleet.deviceClassId,
        deviceId: fleet.devices[1]!.id,
        releaseId: newId('rel'),
        actionId: actionOfB,
      },
      { state: 'assigned', open: true },
    );
    const agent = agentFor(a);
    const answer = await checkIn(agent);
    expect(answer.status).toBe(200);
    expect(answer.body.action).toBeNull(); // B's open action is not A's
    // The report was stored for A, not for B.
    const reports = await db
      .selectFrom('device_reports')
      .select('device_id')
      .where('device_id', 'in', [fleet.devices[0]!.id, fleet.devices[1]!.id])
      .execute();
    expect(reports.map((r) => r.device_id)).toEqual([fleet.devices[0]!.id]);

    const feedback = JSON.stringify({ reportId: 'report-0001', status: 'downloading' });
    const onB = await send(url, agent, {
      path: `/api/device/v1/actions/${actionOfB}/feedback`,
      body: feedback,
    });
    expect(onB.status).toBe(404);
    // B's own token alongside A's certificate: the certificate decides, so still A.
    const withToken = await send(url, agent, {
      path: `/api/device/v1/actions/${actionOfB}/feedback`,
      body: feedback,
      headers: { authorization: `Bearer ${fleet.devices[1]!.token}` },
    });
    expect(withToken.status).toBe(404);
    const action = await db
      .selectFrom('actions')
      .select('state')
      .where('id', '=', actionOfB)
      .executeTakeFirstOrThrow();
    expect(action.state).toBe('assigned');
    // B's token alone does act as B: the refusal above was the certificate's doing.
    const asB = await send(url, agentFor(), {
      path: `/api/device/v1/actions/${actionOfB}/feedback`,
      body: feedback,
      headers: { authorization: `Bearer ${fleet.devices[1]!.token}` },
    });
    expect(asB.status).toBe(200);
  });

  it('refuses unknown, expired, not-yet-valid, revoked, wrong-CA and pending-device certificates with their reason', async () => {
    const db = server.app.updraft.db;
    const unknown = await issueTestDeviceCertificate(db, caKey, device(0), { store: false });
    await expectRefused(checkIn(agentFor(unknown)), 'unknown');
    const expired = await issueTestDeviceCertificate(db, caKey, device(0), {
      now: new Date(Date.now() - 10 * DAY),
      validityDays: 2,
    });
    await expectRefused(checkIn(agentFor(expired)), 'expired');
    const future = await issueTestDeviceCertificate(db, caKey, device(0), {
      now: new Date(Date.now() + 2 * DAY),
    });
    await expectRefused(checkIn(agentFor(future)), 'not-yet-valid');
    const revoked = await issueTestDeviceCertificate(db, caKey, device(0), { state: 'revoked' });
    await expectRefused(checkIn(agentFor(revoked)), 'revoked');

    // Another CA with the same subject as the tenant's issuing CA.
    const tenantCa = await db
      .selectFrom('pki_tenant_cas')
      .select('certificate_pem')
      .where('tenant_id', '=', fleet.tenantId)
      .executeTakeFirstOrThrow();
    const { X509Certificate } = await import('node:crypto');
    const subjectCn = /CN=([^\n,]+)/.exec(
      new X509Certificate(tenantCa.certificate_pem).subject,
    )![1]!;
    const root = await createRootCa({ commonName: 'Other root', validityDays: 9, now: new Date() });
    const other = await createIssuingCa(root, {
      commonName: subjectCn,
      validityDays: 9,
      now: new Date(),
    });
    const wrongCa = await issueTestDeviceCertificate(db, caKey, device(0), {
      issuer: other,
      store: false,
    });
    await expectRefused(checkIn(agentFor(wrongCa)), 'unknown');
    // Even recorded in the inventory (an import gone wrong) it does not chain to the tenant CA.
    const wrongCaStored = await issueTestDeviceCertificate(db, caKey, device(0), { issuer: other });
    await expectRefused(checkIn(agentFor(wrongCaStored)), 'untrusted-chain');

    const pending = await addDevice(db, fleet.tenantId, fleet.deviceClassId);
    await db
      .updateTable('devices')
      .set({ admission: 'pending' })
      .where('id', '=', pending.id)
      .execute();
    const pendingCert = await issueTestDeviceCertificate(db, caKey, {
      tenantId: fleet.tenantId,
      deviceId: pending.id,
      deviceName: pending.id,
    });
    await expectRefused(checkIn(agentFor(pendingCert)), 'device-not-accepted');
    // A refused certificate never falls back to a (valid) bearer token sent alongside.
    await expectRefused(
      checkIn(agentFor(revoked), { authorization: `Bearer ${fleet.devices[0]!.token}` }),
      'revoked',
    );
    // The bearer path refuses a pending device too.
    const bearerPending = await checkIn(agentFor(), { authorization: `Bearer ${pending.token}` });
    expect(bearerPending.status).toBe(401);
    expect(bearerPending.body.code).toBe('AUTH_UNAUTHENTICATED');
  });

  it('refuses a certificate revoked while its keep-alive connection is open, at the next request', async () => {
    const db = server.app.updraft.db;
    const cert = await issueTestDeviceCertificate(db, caKey, device(0));
    const agent = agentFor(cert);
    const first = await checkIn(agent);
    expect(first.status).toBe(200);
    await db
      .updateTable('device_certificates')
      .set({ state: 'revoked', revoked_at: new Date().toISOString() })
      .where('id', '=', cert.id!)
      .execute();
    const next = checkIn(agent);
    await expectRefused(next, 'revoked');
    expect((await next).localPort).toBe(first.localPort); // the same TLS connection
  });

  it('accepts a superseded certificate within the rotation grace and refuses it after (server clock)', async () => {
    const db = server.app.updraft.db;
    const supersededAt = Date.now();
    const cert = await issueTestDeviceCertificate(db, caKey, device(0), {
      state: 'superseded',
      supersededAt: new Date(supersededAt).toISOString(),
    });
    const agent = agentFor(cert);
    try {
      nowMs = supersededAt + 3_599_000;
      expect((await checkIn(agent)).status).toBe(200);
      nowMs = supersededAt + 3_601_000;
      await expectRefused(checkIn(agent), 'revoked');
    } finally {
      nowMs = Date.now();
    }
  });

  it("refuses bearer tokens, even a cached session's, once the tenant forbids them; certificates still work", async () => {
    const db = server.app.updraft.db;
    const dev = await addDevice(db, fleet.tenantId, fleet.deviceClassId);
    const bearer = { authorization: `Bearer ${dev.token}` };
    const agent = agentFor();
    expect((await checkIn(agent, bearer)).status).toBe(200);
    expect((await checkIn(agent, bearer)).status).toBe(200); // from the session cache now
    await db
      .insertInto('pki_settings')
      .values({
        tenant_id: fleet.tenantId,
        bearer_tokens_allowed: 0,
        updated_at: new Date().toISOString(),
        updated_by: null,
      })
      .execute();
    await server.app.updraft.deviceChanges.settled();
    try {
      const refused = await checkIn(agent, bearer);
      expect({ status: refused.status, code: refused.body.code }).toEqual({
        status: 401,
        code: 'DEVICE_BEARER_TOKENS_FORBIDDEN',
      });
      const cert = await issueTestDeviceCertificate(db, caKey, {
        tenantId: fleet.tenantId,
        deviceId: dev.id,
        deviceName: dev.id,
      });
      expect((await checkIn(agentFor(cert))).status).toBe(200);
    } finally {
      await db.deleteFrom('pki_settings').where('tenant_id', '=', fleet.tenantId).execute();
      await server.app.updraft.deviceChanges.settled();
    }
    expect((await checkIn(agent, bearer)).status).toBe(200);
  });

  it('refuses a bearer token at once when its device stops being accepted (cached session)', async () => {
    const db = server.app.updraft.db;
    const dev = await addDevice(db, fleet.tenantId, fleet.deviceClassId);
    const bearer = { authorization: `Bearer ${dev.token}` };
    const agent = agentFor();
    expect((await checkIn(agent, bearer)).status).toBe(200);
    expect((await checkIn(agent, bearer)).status).toBe(200);
    await db
      .updateTable('devices')
      .set({ admission: 'rejected' })
      .where('id', '=', dev.id)
      .execute();
    await server.app.updraft.deviceChanges.settled();
    expect((await checkIn(agent, bearer)).status).toBe(401);
  });
});

describeEachDialect('client-certificate header behind a TLS-terminating proxy', (dialect) => {
  let server: TestServer;
  let url: string;
  let fleet: Fleet;
  let cert: TestDeviceCertificate;
  const header = 'x-ssl-client-cert';

  beforeAll(async () => {
    // The proxy terminates TLS: plain HTTP upstream, from the proxy's address only.
    server = await createTestServer(dialect, {
      trustProxy: ['127.0.0.1'],
      tls: { clientCertHeader: header },
    });
    await server.app.listen({ host: '0.0.0.0', port: 0 });
    const address = server.app.server.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    fleet = await seedFleet(server.app.updraft.db, { tenantId: 'ten_default' });
    const id = fleet.devices[0]!.id;
    cert = await issueTestDeviceCertificate(
      server.app.updraft.db,
      server.app.updraft.deriveKey('pki-ca-key'),
      { tenantId: fleet.tenantId, deviceId: id, deviceName: id },
    );
  });
  afterAll(() => server?.close());

  const from = (localAddress: string, headers: Record<string, string>) =>
    send(url, new http.Agent({ localAddress } as http.AgentOptions), {
      path: '/api/device/v1/check-in',
      body: REPORT,
      headers,
    });

  it('believes the header from a trustProxy address', async () => {
    const answer = await from('127.0.0.1', { [header]: encodeURIComponent(cert.certificatePem) });
    expect(answer.status).toBe(200);
    // A refused certificate through the header is refused like one on a TLS connection.
    await server.app.updraft.db
      .updateTable('device_certificates')
      .set({ state: 'revoked' })
      .where('id', '=', cert.id!)
      .execute();
    try {
      const refused = await from('127.0.0.1', {
        [header]: encodeURIComponent(cert.certificatePem),
      });
      expect(refused.body).toMatchObject({
        code: 'DEVICE_CERTIFICATE_REFUSED',
        details: { reason: 'revoked' },
      });
    } finally {
      await server.app.updraft.db
        .updateTable('device_certificates')
        .set({ state: 'active' })
        .where('id', '=', cert.id!)
        .execute();
    }
  });

  it('ignores the header from any other peer (127.0.0.2), whatever X-Forwarded-For says', async () => {
    const answer = await from('127.0.0.2', {
      [header]: encodeURIComponent(cert.certificatePem),
      'x-forwarded-for': '127.0.0.1',
    });
    expect({ status: answer.status, code: answer.body.code }).toEqual({
      status: 401,
      code: 'AUTH_UNAUTHENTICATED',
    });
  });
});
