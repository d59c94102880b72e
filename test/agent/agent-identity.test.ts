import { X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EstClient,
  FileDeviceKeyHolder,
  HttpTransport,
  IdentityRotation,
  IdentityStore,
  PinnedCa,
} from '@updraft/agent';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createIssuingCa, issueDeviceCertificate } from '../../packages/server/src/pki/index.js';
import {
  certsOnly,
  type EstFixture,
  makePki,
  startEstFixture,
  TestClock,
  type TestPki,
} from './est-fixture.js';

let pki: TestPki;
let dir: string;
let fixture: EstFixture | undefined;
beforeAll(async () => {
  pki = await makePki();
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agent-identity-'));
});
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
  await rm(dir, { recursive: true, force: true });
});

const code = (promise: Promise<unknown>) =>
  promise.then(
    () => 'resolved',
    (e: { code?: string }) => e.code ?? String(e),
  );

async function openStore() {
  return IdentityStore.open(dir, new FileDeviceKeyHolder(dir));
}

function est(url: string, clock = new TestClock(), pin = pki.issuing.certificatePem) {
  return new EstClient({ baseUrl: url, pinnedCa: PinnedCa.parse(pin), clock });
}

const checkIn = { components: [], attributes: {} };

describe('pinned CA', () => {
  it('refuses a pin whose certificate is not a CA (a leaf)', () => {
    expect(() => PinnedCa.parse(pki.server.certificatePem)).toThrow(
      expect.objectContaining({ code: 'AGENT_CONFIG_INVALID' }),
    );
  });

  it('accepts the issuing CA or the root, and text that is no certificate is refused', () => {
    expect(PinnedCa.parse(pki.issuing.certificatePem).certificates).toHaveLength(1);
    expect(PinnedCa.parse(pki.root.certificatePem).certificates).toHaveLength(1);
    expect(() => PinnedCa.parse('nothing')).toThrow(
      expect.objectContaining({ code: 'AGENT_CONFIG_INVALID' }),
    );
  });
});

describe('EST client', () => {
  it('enrolls with a token over HTTP Basic, stores key 0600, then checks in over mTLS without a bearer token', async () => {
    fixture = await startEstFixture({ pki, now: () => new Date(), token: 'one-time' });
    const store = await openStore();
    const key = await store.pendingKey();
    const certs = await est(fixture.url).enroll('pump-1', key, { token: 'one-time' });
    const identity = await store.install(certs);
    expect(new X509Certificate(identity.certificatePem).subject).toContain('CN=pump-1');
    expect((await stat(join(dir, `${key.label}.key`))).mode & 0o777).toBe(0o600);
    expect(fixture.requests[0]?.authorization).toBe(
      `Basic ${Buffer.from('pump-1:one-time').toString('base64')}`,
    );

    const transport = new HttpTransport({
      baseUrl: fixture.url,
      pinnedCa: PinnedCa.parse(pki.root.certificatePem),
      identity: store,
      token: 'one-time',
    });
    const answer = await transport.checkIn(checkIn, null);
    expect(answer.status).toBe(200);
    const seen = fixture.requests.at(-1)!;
    expect(seen.path).toBe('/api/device/v1/check-in');
    expect(seen.clientCert).toBe(new X509Certificate(identity.certificatePem).fingerprint256);
    expect(seen.authorization).toBeUndefined();
  });

  it('enrolls with a birth certificate: waits out 202 + Retry-After, then stores the certificate', async () => {
    const now = new Date();
    const manufacturing = await createIssuingCa(pki.root, {
      commonName: 'Factory CA',
      validityDays: 365,
      now,
    });
    const holder = new FileDeviceKeyHolder(dir);
    const birthKey = await holder.generate('birth');
    const { buildCsr } = await import('@updraft/agent');
    const birthPem = await issueDeviceCertificate(
      manufacturing,
      await buildCsr(birthKey, 'pump-2'),
      {
        deviceName: 'pump-2',
        deviceId: 'serial-2',
        tenantId: 'tenant-1',
        validityDays: 365,
        now,
      },
    );
    fixture = await startEstFixture({
      pki,
      now: () => now,
      birthCa: manufacturing.certificatePem,
      pendingTimes: 2,
    });
    const clock = new TestClock();
    const store = await IdentityStore.open(
      join(dir, 'identity'),
      new FileDeviceKeyHolder(join(dir, 'identity')),
    );
    const key = await store.pendingKey();
    const certs = await est(fixture.url, clock).enroll('pump-2', key, {
      birthCertificatePem: birthPem,
      birthKey: birthKey.tlsKey(),
    });
    await store.install(certs);
    expect(clock.slept).toEqual([7000, 7000]);
    expect(fixture.requests.map((r) => r.clientCert)).toEqual(
      Array(3).fill(new X509Certificate(birthPem).fingerprint256),
    );
    expect(store.current()?.key.label).toBe(key.label);
  });

  it('gives up waiting on a pending enrollment after the bounded wait (AGENT_ENROLLMENT_PENDING)', async () => {
    fixture = await startEstFixture({
      pki,
      now: () => new Date(),
      intercept: (_req, res) => {
        res.writeHead(202, { 'retry-after': '3600' }).end();
        return true;
      },
    });
    const clock = new TestClock();
    const client = new EstClient({
      baseUrl: fixture.url,
      pinnedCa: PinnedCa.parse(pki.issuing.certificatePem),
      clock,
      maxPendingWaitMs: 30 * 60_000,
    });
    const key = await (await openStore()).pendingKey();
    expect(await code(client.enroll('pump-3', key, { token: 't' }))).toBe(
      'AGENT_ENROLLMENT_PENDING',
    );
    // 600 s (a Retry-After is capped at 10 min) three times fits in 30 min; a fourth does not.
    expect(clock.slept).toEqual([600_000, 600_000, 600_000]);
  });

  it('maps 401 to AGENT_ENROLLMENT_REFUSED and 400 to AGENT_ENROLLMENT_REJECTED (with the problem code)', async () => {
    fixture = await startEstFixture({ pki, now: () => new Date(), token: 'right' });
    const key = await (await openStore()).pendingKey();
    expect(await code(est(fixture.url).enroll('pump-4', key, { token: 'wrong' }))).toBe(
      'AGENT_ENROLLMENT_REFUSED',
    );
    await fixture.close();
    fixture = await startEstFixture({
      pki,
      now: () => new Date(),
      intercept: (_req, res) => {
        res
          .writeHead(400, { 'content-type': 'application/problem+json' })
          .end(JSON.stringify({ code: 'PKI_KEY_REUSED' }));
        return true;
      },
    });
    const error = await est(fixture.url)
      .enroll('pump-4', key, { token: 'x' })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'AGENT_ENROLLMENT_REJECTED',
      details: { status: 400, code: 'PKI_KEY_REUSED' },
    });
  });

  describe('refuses hostile answers (default deny)', () => {
    const answers: Record<string, (csr: Buffer) => Promise<string> | string> = {
      'a certificate for another key': async () => {
        const other = await new FileDeviceKeyHolder(dir).generate('other');
        const { buildCsr } = await import('@updraft/agent');
        return certsOnly([
          await issueDeviceCertificate(pki.issuing, await buildCsr(other, 'pump-5'), {
            deviceName: 'pump-5',
            deviceId: 'x',
            tenantId: 'tenant-1',
            validityDays: 30,
            now: new Date(),
          }),
        ]);
      },
      'a certificate from a CA outside the pin': async (csr) => {
        const rogue = await createIssuingCa((await makePki()).root, {
          commonName: 'Test issuing CA',
          validityDays: 30,
          now: new Date(),
        });
        return certsOnly([
          await issueDeviceCertificate(rogue, csr, {
            deviceName: 'pump-5',
            deviceId: 'x',
            tenantId: 'tenant-1',
            validityDays: 30,
            now: new Date(),
          }),
          rogue.certificatePem,
        ]);
      },
      'a certificate naming another device': async (csr) =>
        certsOnly([
          await issueDeviceCertificate(pki.issuing, csr, {
            deviceName: 'pump-6',
            deviceId: 'x',
            tenantId: 'tenant-1',
            validityDays: 30,
            now: new Date(),
          }),
        ]),
      'an expired certificate': async (csr) =>
        certsOnly([
          await issueDeviceCertificate(pki.issuing, csr, {
            deviceName: 'pump-5',
            deviceId: 'x',
            tenantId: 'tenant-1',
            validityDays: 1,
            now: new Date(Date.now() - 3 * 86_400_000),
          }),
        ]),
      'bytes that are not PKCS#7': () => Buffer.from('hello').toString('base64'),
      'text that is not base64': () => '<html>',
    };
    for (const [name, make] of Object.entries(answers)) {
      it(`refuses ${name} and stores nothing`, async () => {
        fixture = await startEstFixture({
          pki,
          now: () => new Date(),
          intercept: async (_req, res, body) => {
            const csr = Buffer.from(body.toString('latin1').replace(/\s+/g, ''), 'base64');
            res
              .writeHead(200, { 'content-type': 'application/pkcs7-mime; smime-type=certs-only' })
              .end(await make(csr));
            return true;
          },
        });
        const store = await openStore();
        const key = await store.pendingKey();
        const result = await code(est(fixture.url).enroll('pump-5', key, { token: 't' }));
        expect(['AGENT_CERTIFICATE_INVALID', 'AGENT_RESPONSE_INVALID']).toContain(result);
        expect(store.current()).toBeNull();
      });
    }

    it('refuses an answer over 64 KiB', async () => {
      fixture = await startEstFixture({
        pki,
        now: () => new Date(),
        intercept: (_req, res) => {
          res.writeHead(200, { 'content-type': 'application/pkcs7-mime' }).end('A'.repeat(100_000));
          return true;
        },
      });
      const key = await (await openStore()).pendingKey();
      expect(await code(est(fixture.url).enroll('pump-5', key, { token: 't' }))).toBe(
        'AGENT_RESPONSE_INVALID',
      );
    });
  });

  it('refuses a server whose certificate does not chain to the pin (AGENT_TLS_REFUSED)', async () => {
    fixture = await startEstFixture({ pki, now: () => new Date(), token: 't' });
    const other = await makePki();
    const key = await (await openStore()).pendingKey();
    expect(
      await code(
        est(fixture.url, new TestClock(), other.issuing.certificatePem).enroll('p', key, {
          token: 't',
        }),
      ),
    ).toBe('AGENT_TLS_REFUSED');
    expect(fixture.requests).toHaveLength(0);
  });
});

describe('identity store', () => {
  it('keeps the old identity usable when a cut comes after the new key was made but before the switch', async () => {
    fixture = await startEstFixture({ pki, now: () => new Date(), token: 't' });
    const store = await openStore();
    await store.install(
      await est(fixture.url).enroll('pump-7', await store.pendingKey(), { token: 't' }),
    );
    const first = store.current()!;
    const pending = await store.pendingKey(); // the rotation's intent and key are on disk
    // "Power cut": reopen from disk.
    const reopened = await openStore();
    expect(reopened.current()?.certificatePem).toBe(first.certificatePem);
    // The retry asks for the same pending key, not a third one.
    expect((await reopened.pendingKey()).label).toBe(pending.label);
    const certs = await est(fixture.url).reenroll('pump-7', await reopened.pendingKey(), first);
    await reopened.install(certs);
    expect(reopened.current()?.key.label).toBe(pending.label);
    // The old key and certificate are gone after the switch.
    const files = (await readdir(dir)).filter((f) => !f.startsWith('.')).sort();
    expect(files).toEqual([`${pending.label}.key`, `${pending.label}.pem`, 'identity.json']);
  });

  it('forgets an intent whose key a cut prevented, and removes orphan files', async () => {
    await writeFile(
      join(dir, 'identity.json'),
      JSON.stringify({ version: 1, current: null, pending: 'device-3', next: 4 }),
    );
    await writeFile(join(dir, 'device-2.key'), 'orphan');
    const store = await openStore();
    expect(store.current()).toBeNull();
    expect(await readdir(dir)).not.toContain('device-2.key');
    expect((await store.pendingKey()).label).toBe('device-4');
    expect(JSON.parse(await readFile(join(dir, 'identity.json'), 'utf8')).pending).toBe('device-4');
  });

  it('refuses a corrupt state file with AGENT_IDENTITY_CORRUPT', async () => {
    await writeFile(join(dir, 'identity.json'), '{"version":1,"current":"../etc/passwd"}');
    expect(await code(openStore())).toBe('AGENT_IDENTITY_CORRUPT');
  });

  it('refuses to install a certificate that does not certify the pending key', async () => {
    const store = await openStore();
    await store.pendingKey();
    expect(await code(store.install([new X509Certificate(pki.server.certificatePem)]))).toBe(
      'AGENT_CERTIFICATE_INVALID',
    );
    expect(store.current()).toBeNull();
  });
});

describe('rotation', () => {
  it('renews before expiry without a failed check-in, and retries later when a renewal fails', async () => {
    const clock = new TestClock();
    let refuseReenroll = false;
    fixture = await startEstFixture({
      pki,
      now: () => new Date(clock.now()),
      token: 't',
      validityDays: 30,
      intercept: (req, res) => {
        if (refuseReenroll && req.url === '/.well-known/est/simplereenroll') {
          res.writeHead(503).end();
          return true;
        }
        return false;
      },
    });
    const store = await openStore();
    const client = est(fixture.url, clock);
    await store.install(await client.enroll('pump-8', await store.pendingKey(), { token: 't' }));
    const first = store.current()!;
    const rotation = new IdentityRotation(store, client, clock, { random: () => 0.5 });
    const transport = new HttpTransport({
      baseUrl: fixture.url,
      pinnedCa: PinnedCa.parse(pki.issuing.certificatePem),
      identity: store,
    });
    const day = 86_400_000;
    const statuses: number[] = [];
    const outcomes: string[] = [];
    // One check-in a day for 45 days; every one must be answered.
    for (let i = 0; i < 45; i += 1) {
      refuseReenroll = i === 20; // day 20 is inside the window: that attempt fails
      outcomes.push(await rotation.renewIfDue());
      statuses.push((await transport.checkIn(checkIn, null)).status);
      clock.time += day;
    }
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(outcomes.slice(0, 20).every((o) => o === 'not-due')).toBe(true);
    expect(outcomes[20]).toBe('failed');
    expect(outcomes[21]).toBe('renewed');
    // 30-day certificates renewed with a third of their life left: days 20 (failed), 21 and 41.
    expect(outcomes.flatMap((o, i) => (o === 'renewed' ? [i] : []))).toEqual([21, 41]);
    expect(store.current()!.certificatePem).not.toBe(first.certificatePem);
    // Each check-in presented the certificate current at that moment.
    const fingerprints = new Set(
      fixture.requests.filter((r) => r.path.endsWith('check-in')).map((r) => r.clientCert),
    );
    expect(fingerprints.size).toBe(outcomes.filter((o) => o === 'renewed').length + 1);
  });
});

describe('rotation after a lost answer', () => {
  it('drops a pending key the service refuses (400) and renews with a new one next time', async () => {
    const clock = new TestClock();
    let refuse = true;
    fixture = await startEstFixture({
      pki,
      now: () => new Date(clock.now()),
      token: 't',
      intercept: (req, res) => {
        if (refuse && req.url === '/.well-known/est/simplereenroll') {
          res
            .writeHead(400, { 'content-type': 'application/problem+json' })
            .end(JSON.stringify({ code: 'PKI_KEY_REUSED' }));
          return true;
        }
        return false;
      },
    });
    const store = await openStore();
    const client = est(fixture.url, clock);
    await store.install(await client.enroll('pump-10', await store.pendingKey(), { token: 't' }));
    const rotation = new IdentityRotation(store, client, clock, { random: () => 0 });
    clock.time += 25 * 86_400_000;
    const refusedKey = (await store.pendingKey()).label;
    expect(await rotation.renewIfDue()).toBe('failed');
    refuse = false;
    expect(await rotation.renewIfDue()).toBe('renewed');
    expect(store.current()!.key.label).not.toBe(refusedKey);
  });
});
