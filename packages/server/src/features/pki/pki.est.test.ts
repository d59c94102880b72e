import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Metrics } from '../../metrics/metrics.js';
import { createRootCa, issueDeviceCertificate, type PkiKeyPair } from '../../pki/pki.js';
import { describeEachDialect } from '../../testing/test-database.js';
import { createTestServer, type TestServer } from '../../testing/test-server.js';
import { PkiService } from './pki.service.js';
import { CaKeyBox } from './tenant-ca.js';

const P256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];

describeEachDialect('PKI service over EST (real curl and openssl)', (dialect) => {
  let server: TestServer;
  let admin: Record<string, string>;
  let dir: string;
  let httpsUrl: string;
  let clock = new Date();
  let classId: string;
  let mfgRoot: PkiKeyPair;
  let n = 0;
  let reenrolledKey = '';

  const file = (name: string) => join(dir, name);
  const run = (cmd: string, args: string[], input?: Buffer | string) =>
    execFileSync(cmd, args, { cwd: dir, input, stdio: ['pipe', 'pipe', 'pipe'] });
  /** A new P-256 key and its CSR (base64 DER, one line, as a shell pipeline would make it). */
  const newCsr = (key = `k${++n}.key`, subject = '/CN=ignored') => {
    const der = run('openssl', [
      'req',
      '-new',
      ...(readKeyIfExists(key) ? ['-key', key] : [...P256, '-nodes', '-keyout', key]),
      '-subj',
      subject,
      '-outform',
      'DER',
    ]);
    const csrFile = `${key}.csr.b64`;
    writeFileSync(file(csrFile), der.toString('base64'));
    return { key, csrFile };
  };
  const readKeyIfExists = (key: string) => {
    try {
      readFileSync(file(key));
      return true;
    } catch {
      return false;
    }
  };
  /** curl POST of a CSR file (async: the server answers from this process); status, headers, body. */
  const curl = async (url: string, csrFile: string, extra: string[] = []) => {
    const { stdout: out } = await promisify(execFile)(
      'curl',
      [
        '-sS',
        '-D',
        '-',
        '-H',
        'Content-Type: application/pkcs10',
        '-H',
        'Content-Transfer-Encoding: base64',
        '--data-binary',
        `@${csrFile}`,
        '--cacert',
        'ca.pem',
        ...extra,
        url,
      ],
      { cwd: dir, encoding: 'latin1' },
    );
    const [head = '', ...rest] = out.split('\r\n\r\n');
    const status = Number(/^HTTP\/[\d.]+ (\d+)/.exec(head)?.[1]);
    return { status, head: head.toLowerCase(), body: rest.join('\r\n\r\n') };
  };
  /** The certificates of a base64 certs-only answer, via openssl. */
  const printCerts = (base64Body: string) => {
    const der = run('openssl', ['base64', '-d'], base64Body);
    return run('openssl', ['pkcs7', '-inform', 'DER', '-print_certs'], der).toString();
  };
  const api = async (
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    payload?: object,
    headers = admin,
  ) => server.app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
  const newToken = async (device: string, expiresInSeconds?: number) => {
    const res = await api('POST', '/api/v1/pki/enrollment-tokens', {
      device,
      ...(expiresInSeconds ? { expiresInSeconds } : {}),
    });
    expect(res.statusCode).toBe(201);
    return res.json() as { token: string; expiresAt: string; deviceId: string };
  };
  const newDevice = async (name: string) => {
    const res = await api('POST', '/api/v1/devices', { name, deviceClassId: classId });
    expect(res.statusCode, res.body).toBe(201);
    return (res.json() as { device: { id: string } }).device.id;
  };
  const certificates = async (device: string) =>
    (
      (await api('GET', `/api/v1/pki/certificates?device=${device}`)).json() as {
        items: Array<{ id: string; serial: string; state: string; supersededAt: string | null }>;
      }
    ).items;
  /** A birth certificate from the manufacturing root for a new key; files `<name>.pem/.key`. */
  const birthCertificate = async (name: string, ca = mfgRoot) => {
    const { key, csrFile } = newCsr(`${name}.key`);
    const csr = Buffer.from(readFileSync(file(csrFile), 'utf8'), 'base64');
    const pem = await issueDeviceCertificate(ca, csr, {
      deviceName: name,
      deviceId: 'factory-serial',
      tenantId: 'factory',
      validityDays: 3650,
      now: clock,
    });
    writeFileSync(file(`${name}.pem`), pem);
    return { cert: `${name}.pem`, key };
  };
  const tls = (cert: string, key: string) => ['--cert', cert, '--key', key];
  const auditActions = async () =>
    (
      await server.app.updraft.db
        .selectFrom('audit_log')
        .select(['action', 'actor_type', 'resource_id'])
        .execute()
    ).map((r) => `${r.actor_type}:${r.action}`);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'updraft-est-'));
    // The real listener: TLS 1.3, client certificates requested and verified by the service.
    server = await createTestServer(dialect, { tls: { enabled: true } }, { now: () => clock });
    admin = await server.adminHeaders();
    httpsUrl = await server.app.listen({ port: 0, host: '127.0.0.1' });
    expect(httpsUrl).toMatch(/^https:/);
    writeFileSync(file('ca.pem'), readFileSync(join(server.dataDir, 'pki', 'ca.pem')));
    const cls = await api('POST', '/api/v1/device-classes', {
      name: 'pump',
      vendorName: 'acme.example',
      modelName: 'pump',
    });
    expect(cls.statusCode, cls.body).toBe(201);
    classId = (cls.json() as { id: string }).id;
    mfgRoot = await createRootCa({ commonName: 'ACME factory CA', validityDays: 3650, now: clock });
    writeFileSync(file('mfg.pem'), mfgRoot.certificatePem);
  });

  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('enrolls with a one-time token: curl + openssl req in, an O=<tenant>, CN=<name> certificate out', async () => {
    const deviceId = await newDevice('pump-1');
    const { token, expiresAt } = await newToken('pump-1');
    expect(token).toMatch(/^updraft_enroll_[A-Za-z0-9_-]{43}$/);
    expect(Date.parse(expiresAt) - clock.getTime()).toBe(604_800_000);
    const { stdout: cacerts } = await promisify(execFile)(
      'curl',
      ['-sS', '--cacert', 'ca.pem', `${httpsUrl}/.well-known/est/cacerts`],
      { cwd: dir },
    );
    expect(printCerts(cacerts)).toMatch(/subject=CN\s?=\s?Updraft issuing CA default/);

    const { csrFile } = newCsr();
    const res = await curl(`${httpsUrl}/.well-known/est/simpleenroll`, csrFile, [
      '-u',
      `pump-1:${token}`,
    ]);
    expect(res.status).toBe(200);
    expect(res.head).toContain('content-type: application/pkcs7-mime; smime-type=certs-only');
    expect(res.head).toContain('content-transfer-encoding: base64');
    const printed = printCerts(res.body);
    expect(printed).toMatch(/subject=O\s?=\s?ten_default, CN\s?=\s?pump-1/);
    const [cert] = await certificates('pump-1');
    expect(cert?.state).toBe('active');
    const full = (await api('GET', `/api/v1/pki/certificates/${cert?.serial}`)).json() as {
      certificatePem: string;
      deviceId: string;
    };
    expect(full.deviceId).toBe(deviceId);
    writeFileSync(file('pump-1.pem'), full.certificatePem);
    expect(
      run('openssl', ['x509', '-in', 'pump-1.pem', '-noout', '-subject', '-nameopt', 'RFC2253'])
        .toString()
        .trim(),
    ).toBe('subject=CN=pump-1,O=ten_default');
    expect(
      run('openssl', ['x509', '-in', 'pump-1.pem', '-noout', '-ext', 'subjectAltName']).toString(),
    ).toContain(`URI:urn:updraft:device:${deviceId}`);
    expect(
      run('openssl', ['verify', '-CAfile', 'ca.pem', '-purpose', 'sslclient', 'pump-1.pem'])
        .toString()
        .trim(),
    ).toBe('pump-1.pem: OK');

    // The same token again: refused, with the Basic challenge, and nothing issued.
    const again = await curl(`${httpsUrl}/.well-known/est/simpleenroll`, newCsr().csrFile, [
      '-u',
      `pump-1:${token}`,
    ]);
    expect(again.status).toBe(401);
    expect(again.head).toContain('www-authenticate: basic realm="updraft-est"');
    expect(JSON.parse(again.body)).toMatchObject({
      code: 'PKI_ENROLLMENT_TOKEN_INVALID',
      details: { reason: 'used' },
    });
    expect(await certificates('pump-1')).toHaveLength(1);
    const actions = await auditActions();
    expect(actions).toContain('user:pki.enrollment-token.create');
    expect(actions.filter((a) => a === 'device:pki.certificate.issue')).toHaveLength(1);
    // One entry per issuance: the fallback hook adds none for a success, one for the refusal.
    const est = await server.app.updraft.db
      .selectFrom('audit_log')
      .select(['outcome', 'status'])
      .where('action', '=', 'POST /.well-known/est/simpleenroll')
      .execute();
    expect(est).toEqual([{ outcome: 'denied', status: 401 }]);
    // The token itself never reaches the audit log.
    const changes = await server.app.updraft.db.selectFrom('audit_log').select('change').execute();
    expect(JSON.stringify(changes)).not.toContain(token);
  });

  it('refuses an expired token, a token for another device and a missing credential', async () => {
    await newDevice('pump-2');
    const { token } = await newToken('pump-2', 60);
    const wrongName = await curl(`${httpsUrl}/.well-known/est/simpleenroll`, newCsr().csrFile, [
      '-u',
      `pump-1:${token}`,
    ]);
    expect(wrongName.status).toBe(401);
    expect(JSON.parse(wrongName.body).details.reason).toBe('device-mismatch');
    clock = new Date(clock.getTime() + 61_000);
    const expired = await curl(`${httpsUrl}/.well-known/est/simpleenroll`, newCsr().csrFile, [
      '-u',
      `pump-2:${token}`,
    ]);
    expect(expired.status).toBe(401);
    expect(JSON.parse(expired.body).details.reason).toBe('expired');
    const none = await curl(`${httpsUrl}/.well-known/est/simpleenroll`, newCsr().csrFile);
    expect(none.status).toBe(401);
    expect(none.head).toContain('www-authenticate: basic realm="updraft-est"');
    const unknown = await curl(`${httpsUrl}/.well-known/est/simpleenroll`, newCsr().csrFile, [
      '-u',
      'pump-2:updraft_enroll_nope',
    ]);
    expect(JSON.parse(unknown.body).details.reason).toBe('unknown');
    expect(await certificates('pump-2')).toHaveLength(0);
    const metrics = (await server.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/updraft_pki_refusals_total\{channel="est",reason="expired"\} 1/);
    expect(metrics).toMatch(/updraft_pki_enrollments_total\{method="token"\} 1/);
  });

  it('answers 400 problem+json to a body that is no CSR, and leaves the token unused', async () => {
    await newDevice('pump-3');
    const { token } = await newToken('pump-3');
    writeFileSync(file('junk.b64'), 'bm90IGEgY3Ny');
    const res = await curl(`${httpsUrl}/.well-known/est/simpleenroll`, 'junk.b64', [
      '-u',
      `pump-3:${token}`,
    ]);
    expect(res.status).toBe(400);
    expect(res.head).toContain('content-type: application/problem+json');
    expect(JSON.parse(res.body).code).toBe('PKI_CSR_MALFORMED');
    // Any bytes: a 4xx problem, never a 500, and the token stays usable.
    const basic = `Basic ${Buffer.from(`pump-3:${token}`).toString('base64')}`;
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), async (bytes) => {
        const r = await server.app.inject({
          method: 'POST',
          url: '/.well-known/est/simpleenroll',
          headers: { authorization: basic, 'content-type': 'application/pkcs10' },
          payload: Buffer.from(bytes),
        });
        expect(r.statusCode, r.body).toBeGreaterThanOrEqual(400);
        expect(r.statusCode, r.body).toBeLessThan(500);
        expect(r.headers['content-type']).toContain('application/problem+json');
      }),
      { numRuns: 150 },
    );
    const ok = await curl(`${httpsUrl}/.well-known/est/simpleenroll`, newCsr().csrFile, [
      '-u',
      `pump-3:${token}`,
    ]);
    expect(ok.status).toBe(200);
  });

  it('enrolls by birth certificate over mTLS: pending (202 + Retry-After) until accepted, birth key refused', async () => {
    const added = await api('POST', '/api/v1/pki/manufacturing-cas', {
      certificatePem: mfgRoot.certificatePem,
      name: 'ACME',
      deviceClass: 'pump',
    });
    expect(added.statusCode).toBe(201);
    const birth = await birthCertificate('sensor-9');
    const url = `${httpsUrl}/.well-known/est/simpleenroll`;
    const pending = await curl(url, newCsr().csrFile, tls(birth.cert, birth.key));
    expect(pending.status).toBe(202);
    expect(pending.head).toContain('retry-after: 600');
    const device = (await api('GET', '/api/v1/devices/sensor-9')).json() as { id: string };
    const row = await server.app.updraft.db
      .selectFrom('devices')
      .select(['admission', 'device_class_id'])
      .where('id', '=', device.id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ admission: 'pending', device_class_id: classId });
    expect((await curl(url, newCsr().csrFile, tls(birth.cert, birth.key))).status).toBe(202);

    const decided = await api('POST', '/api/v1/devices/sensor-9/admission', { decision: 'accept' });
    expect(decided.json()).toEqual({ deviceId: device.id, admission: 'accepted' });
    // The birth key itself may not be certified.
    const reuse = await curl(url, newCsr(birth.key).csrFile, tls(birth.cert, birth.key));
    expect(reuse.status).toBe(409);
    expect(JSON.parse(reuse.body).code).toBe('PKI_KEY_REUSED');
    const issued = await curl(url, newCsr().csrFile, tls(birth.cert, birth.key));
    expect(issued.status).toBe(200);
    expect(printCerts(issued.body)).toMatch(/O\s?=\s?ten_default, CN\s?=\s?sensor-9/);
    expect(await auditActions()).toEqual(
      expect.arrayContaining([
        'device:device.register',
        'user:device.admission',
        'user:pki.manufacturing-ca.add',
      ]),
    );

    // A certificate from a CA the tenant never registered: refused.
    const stranger = await createRootCa({
      commonName: 'Stranger CA',
      validityDays: 30,
      now: clock,
    });
    const other = await birthCertificate('intruder', stranger);
    const refused = await curl(url, newCsr().csrFile, tls(other.cert, other.key));
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body).code).toBe('PKI_UNTRUSTED');

    // A rejected device cannot enroll.
    await api('POST', '/api/v1/devices/sensor-9/admission', { decision: 'reject' });
    const rejected = await curl(url, newCsr().csrFile, tls(birth.cert, birth.key));
    expect(JSON.parse(rejected.body).code).toBe('PKI_DEVICE_NOT_ADMITTED');
  });

  it('auto-accepts devices of a manufacturing CA configured so', async () => {
    const auto = await createRootCa({
      commonName: 'Auto factory CA',
      validityDays: 3650,
      now: clock,
    });
    const added = await api('POST', '/api/v1/pki/manufacturing-cas', {
      certificatePem: auto.certificatePem,
      autoAccept: true,
      deviceClass: classId,
    });
    expect(added.json()).toMatchObject({ autoAccept: true, deviceClassId: classId });
    const birth = await birthCertificate('sensor-auto', auto);
    const res = await curl(
      `${httpsUrl}/.well-known/est/simpleenroll`,
      newCsr().csrFile,
      tls(birth.cert, birth.key),
    );
    expect(res.status).toBe(200);
    expect((await certificates('sensor-auto'))[0]?.state).toBe('active');
    // Removed: its birth certificates no longer enroll.
    const id = (added.json() as { id: string }).id;
    expect((await api('DELETE', `/api/v1/pki/manufacturing-cas/${id}`)).statusCode).toBe(204);
    const after = await curl(
      `${httpsUrl}/.well-known/est/simpleenroll`,
      newCsr().csrFile,
      tls(birth.cert, birth.key),
    );
    expect(after.status).toBe(403);
  });

  it('re-enrolls with the current certificate: a new key, the old certificate superseded', async () => {
    const url = `${httpsUrl}/.well-known/est/simplereenroll`;
    const key1 = 'k1.key'; // pump-1's key from the first test
    const sameKey = await curl(url, newCsr(key1).csrFile, tls('pump-1.pem', key1));
    expect(sameKey.status).toBe(409);
    expect(JSON.parse(sameKey.body).code).toBe('PKI_KEY_REUSED');
    const { key, csrFile } = newCsr();
    const res = await curl(url, csrFile, tls('pump-1.pem', key1));
    expect(res.status).toBe(200);
    const pems = printCerts(res.body);
    writeFileSync(file('pump-1b.pem'), pems.slice(pems.indexOf('-----BEGIN')));
    const [newest, older] = await certificates('pump-1');
    expect(newest?.state).toBe('active');
    expect(older?.state).toBe('superseded');
    expect(older?.supersededAt).toBe(clock.toISOString());
    // Within the grace period the superseded certificate still re-enrolls; after it, not.
    clock = new Date(clock.getTime() + 86_401_000);
    const late = await curl(url, newCsr().csrFile, tls('pump-1.pem', key1));
    expect(late.status).toBe(403);
    expect(JSON.parse(late.body)).toMatchObject({
      code: 'PKI_REENROLL_REFUSED',
      details: { reason: 'superseded' },
    });
    // Without a client certificate: refused.
    const none = await curl(url, newCsr().csrFile);
    expect(JSON.parse(none.body).details.reason).toBe('missing');
    reenrolledKey = key;
    const metrics = (await server.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/updraft_pki_enrollments_total\{method="reenroll"\} 1/);
    expect(metrics).toMatch(/updraft_pki_certificates_expiring 0/);
  });

  it('revokes (auditor may read, not revoke) and lists the serial on a CRL openssl verifies', async () => {
    const auditor = { authorization: `Bearer ${(await server.tokenFor(['auditor'])).token}` };
    const before = await promisify(execFile)(
      'curl',
      [
        '-sS',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '-X',
        'POST',
        '-H',
        'content-type: application/json',
        '--data',
        JSON.stringify({ components: [{ id: '814100', version: '1.0.0' }] }),
        '--cacert',
        'ca.pem',
        ...tls('pump-1b.pem', reenrolledKey),
        `${httpsUrl}/api/device/v1/check-in`,
      ],
      { cwd: dir },
    );
    expect(before.stdout).toMatch(/^20[04]$/);
    const [active] = await certificates('pump-1');
    expect((await api('GET', '/api/v1/pki/certificates', undefined, auditor)).statusCode).toBe(200);
    const denied = await api(
      'POST',
      `/api/v1/pki/certificates/${active?.serial}/revoke`,
      { reason: 'keyCompromise' },
      auditor,
    );
    expect(denied.statusCode).toBe(403);
    const deployer = {
      authorization: `Bearer ${(await server.tokenFor(['deployment-admin'])).token}`,
    };
    const revoked = await api(
      'POST',
      `/api/v1/pki/certificates/${active?.serial}/revoke`,
      { reason: 'keyCompromise' },
      deployer,
    );
    expect(revoked.statusCode).toBe(200);
    expect(revoked.json()).toMatchObject({ state: 'revoked', revocationReason: 'keyCompromise' });
    const twice = await api(
      'POST',
      `/api/v1/pki/certificates/${active?.serial}/revoke`,
      {},
      deployer,
    );
    expect(twice.statusCode).toBe(409);

    const crl = await server.app.inject({ method: 'GET', url: '/pki/default/crl' });
    expect(crl.statusCode).toBe(200);
    expect(crl.headers['content-type']).toBe('application/pkix-crl');
    writeFileSync(file('crl.der'), crl.rawPayload);
    const verify = execFileSync(
      'openssl',
      ['crl', '-inform', 'DER', '-in', 'crl.der', '-CAfile', 'ca.pem', '-noout'],
      {
        cwd: dir,
        encoding: 'utf8',
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    expect(verify).toBe('');
    const text = run('openssl', [
      'crl',
      '-inform',
      'DER',
      '-in',
      'crl.der',
      '-noout',
      '-text',
    ]).toString();
    expect(text.toUpperCase()).toContain(`SERIAL NUMBER: ${active?.serial.toUpperCase()}`);
    expect(text).toContain('Key Compromise');
    expect(text).toMatch(/X509v3 CRL Number:\s*\n\s*\d+/);
    // openssl's own check of the signature: a CRL from another key fails it.
    expect(() =>
      execFileSync(
        'openssl',
        ['crl', '-inform', 'DER', '-in', 'crl.der', '-CAfile', 'mfg.pem', '-noout'],
        {
          cwd: dir,
          stdio: 'pipe',
        },
      ),
    ).toThrow();

    // The device API refuses it from the next request on (one committed UPDATE, no cache to wait for).
    const checkIn = await promisify(execFile)(
      'curl',
      [
        '-sS',
        '-X',
        'POST',
        '-H',
        'content-type: application/json',
        '--data',
        JSON.stringify({ components: [{ id: '814100', version: '1.0.0' }] }),
        '--cacert',
        'ca.pem',
        ...tls('pump-1b.pem', reenrolledKey),
        `${httpsUrl}/api/device/v1/check-in`,
      ],
      { cwd: dir },
    );
    expect(JSON.parse(checkIn.stdout)).toMatchObject({
      code: 'DEVICE_CERTIFICATE_REFUSED',
      details: { reason: 'revoked' },
    });
    // The revoked certificate cannot re-enroll.
    const res = await curl(
      `${httpsUrl}/.well-known/est/simplereenroll`,
      newCsr().csrFile,
      tls('pump-1b.pem', reenrolledKey),
    );
    expect(JSON.parse(res.body)).toMatchObject({
      code: 'PKI_REENROLL_REFUSED',
      details: { reason: 'revoked' },
    });
    // Revoke all of a device's certificates at once.
    const all = await api('POST', '/api/v1/devices/sensor-auto/certificates/revoke', {
      reason: 'cessationOfOperation',
    });
    expect(all.json()).toEqual({ revoked: 1 });
    expect(await auditActions()).toEqual(
      expect.arrayContaining([
        'user:pki.certificate.revoke',
        'user:pki.device-certificates.revoke',
      ]),
    );
  });

  it('keeps the PKI settings and the expiry report', async () => {
    expect((await api('GET', '/api/v1/pki/settings')).json()).toEqual({
      bearerTokensAllowed: true,
    });
    const put = await api('PUT', '/api/v1/pki/settings', { bearerTokensAllowed: false });
    expect(put.json()).toEqual({ bearerTokensAllowed: false });
    const report = (await api('GET', '/api/v1/pki/expiry-report?days=400')).json() as {
      items: Array<{ state: string }>;
    };
    expect(report.items.length).toBeGreaterThan(0);
    expect(report.items.every((c) => c.state === 'active')).toBe(true);
    expect((await api('GET', '/api/v1/pki/expiry-report?days=1')).json()).toMatchObject({
      items: [],
    });
    expect(await auditActions()).toContain('user:pki.settings');
    // The gauge counts active certificates expiring within 30 days, read at scrape time.
    const active = (
      (await api('GET', '/api/v1/pki/certificates?state=active')).json() as { items: unknown[] }
    ).items.length;
    expect(active).toBeGreaterThan(0);
    clock = new Date(clock.getTime() + 340 * 86_400_000);
    const metrics = (await server.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain(`updraft_pki_certificates_expiring ${active}\n`);
  });

  it('CRL numbers: a second replica serves the current number, a revocation moves it', async () => {
    const crlNumberOf = (der: Uint8Array) => {
      writeFileSync(file('n.der'), der);
      const text = run('openssl', [
        'crl',
        '-inform',
        'DER',
        '-in',
        'n.der',
        '-noout',
        '-crlnumber',
      ]);
      return Number.parseInt(text.toString().trim().split('=')[1]!, 16);
    };
    const a = server.app.wiring.pki.service;
    const b = new PkiService({
      db: server.app.updraft.db,
      support: server.app.updraft.dbSupport,
      box: new CaKeyBox(server.app.updraft.deriveKey('pki-ca-key')),
      config: server.config.pki,
      metrics: new Metrics({ defaultMetrics: false }),
      now: () => clock,
    });
    const first = crlNumberOf(await a.crl('ten_default'));
    expect(crlNumberOf(await b.crl('ten_default'))).toBe(first);
    expect(crlNumberOf(await a.crl('ten_default'))).toBe(first);
    const [active] = await certificates('pump-3');
    await api('POST', `/api/v1/pki/certificates/${active?.serial}/revoke`, {});
    const afterA = crlNumberOf(await a.crl('ten_default'));
    expect(afterA).toBeGreaterThan(first);
    expect(crlNumberOf(await b.crl('ten_default'))).toBe(afterA);
    // Half a day later the CRL is reissued with a new number.
    clock = new Date(clock.getTime() + 13 * 3_600_000);
    expect(crlNumberOf(await a.crl('ten_default'))).toBeGreaterThan(afterA);
  });

  it('serves EST and the CRL per tenant name; an unknown tenant is 404', async () => {
    const labelled = await server.app.inject({
      method: 'GET',
      url: '/.well-known/est/default/cacerts',
    });
    expect(labelled.statusCode).toBe(200);
    const plain = await server.app.inject({ method: 'GET', url: '/.well-known/est/cacerts' });
    expect(labelled.body).toBe(plain.body);
    for (const url of ['/.well-known/est/nobody/cacerts', '/pki/nobody/crl']) {
      const res = await server.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.json()).toMatchObject({ code: 'RESOURCE_NOT_FOUND' });
    }
  });
});
