import { readFile } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { issueTestDeviceCertificate } from '../../testing/device-certificates.js';
import { type Fleet, seedFleet } from '../../testing/release-fixtures.js';
import { describeEachDialect } from '../../testing/test-database.js';
import { createTestServer, type TestServer } from '../../testing/test-server.js';

// The DDI API over TLS: a controller identified by its device certificate (no Authorization
// header), and the links it is given are https.
describeEachDialect('hawkBit DDI API over mutual TLS', (dialect) => {
  let server: TestServer;
  let url: string;
  let ca: string;
  let fleet: Fleet;
  const agents: https.Agent[] = [];

  beforeAll(async () => {
    server = await createTestServer(dialect, { tls: { enabled: true } });
    await server.app.listen({ host: '127.0.0.1', port: 0 });
    const address = server.app.server.address();
    url = `https://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    ca = await readFile(path.join(server.dataDir, 'pki', 'ca.pem'), 'utf8');
    fleet = await seedFleet(server.app.updraft.db, { tenantId: 'ten_default', deviceCount: 2 });
  });
  afterAll(async () => {
    for (const agent of agents) agent.destroy();
    await server?.close();
  });

  const get = (agent: https.Agent, pathname: string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
      const req = https.request(`${url}${pathname}`, { agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString() || '{}'),
          }),
        );
      });
      req.on('error', reject);
      req.end();
    });

  it('identifies the controller by its certificate, only as itself, and links over https', async () => {
    const id = fleet.devices[0]!.id;
    const cert = await issueTestDeviceCertificate(
      server.app.updraft.db,
      server.app.updraft.deriveKey('pki-ca-key'),
      { tenantId: fleet.tenantId, deviceId: id, deviceName: id },
    );
    const agent = new https.Agent({ ca, cert: cert.certificatePem, key: cert.privateKeyPem });
    const anonymous = new https.Agent({ ca });
    agents.push(agent, anonymous);
    const own = await get(agent, `/DEFAULT/controller/v1/${id}`);
    expect(own.status).toBe(200);
    const links = own.body._links as Record<string, { href: string }>;
    expect(links.configData?.href).toBe(`${url}/DEFAULT/controller/v1/${id}/configData`);
    // The same certificate under another controller's id, and no credential at all.
    expect((await get(agent, `/DEFAULT/controller/v1/${fleet.devices[1]!.id}`)).status).toBe(401);
    expect((await get(anonymous, `/DEFAULT/controller/v1/${id}`)).status).toBe(401);
    // The certificate wins over a header, as on the native API: another device's TargetToken
    // does not make this connection that device.
    const mixed = await get(agent, `/DEFAULT/controller/v1/${fleet.devices[1]!.id}`, {
      authorization: `TargetToken ${fleet.devices[1]!.token}`,
    });
    expect(mixed.status).toBe(401);
  });
});
