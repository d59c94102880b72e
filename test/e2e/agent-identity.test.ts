import { execFile } from 'node:child_process';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type DeviceIdentity,
  EstClient,
  FileDeviceKeyHolder,
  HttpTransport,
  IdentityRotation,
  IdentityStore,
  PinnedCa,
  parseAgentConfig,
  runFileAgent,
} from '@updraft/agent';
import { createRootCa } from '@updraft/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnUpdraft } from './cli-process.js';
import { type SpawnedService, startService } from './service-fixture.js';

// The real service (`updraft server start --tls`, spawned) and the real agent parts, over
// loopback: enrollment over EST with a token and with a birth certificate, check-ins over mutual
// TLS, rotation before expiry, the pin, and a simulated fleet enrolling over EST.

let service: SpawnedService;
let dir: string;
let pin: PinnedCa;
let deviceClassId: string;
const checkIn = { components: [], attributes: {} };

/** A clock for the agent: real time plus a jump the test sets; sleeps run a hook instead. */
class JumpClock {
  offsetMs = 0;
  onSleep: (ms: number) => Promise<void> = async () => {};
  now(): number {
    return Date.now() + this.offsetMs;
  }
  async sleep(ms: number): Promise<void> {
    await this.onSleep(ms);
  }
}

async function newDevice(name: string): Promise<string> {
  const r = await service.api<{ device: { id: string } }>('POST', '/api/v1/devices', {
    name,
    deviceClassId,
  });
  return r.device.id;
}

async function enrollmentToken(name: string): Promise<string> {
  return (
    await service.api<{ token: string }>('POST', '/api/v1/pki/enrollment-tokens', { device: name })
  ).token;
}

async function openStore(name: string): Promise<IdentityStore> {
  const d = join(dir, name);
  return IdentityStore.open(d, new FileDeviceKeyHolder(d));
}

function openssl(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile('openssl', args, { cwd }, (error, _out, stderr) =>
      error ? reject(new Error(stderr)) : resolve(),
    ),
  );
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'updraft-e2e-identity-'));
  service = await startService({ UPDRAFT_TLS: 'true' });
  expect(service.base).toMatch(/^https:/);
  pin = PinnedCa.parse(await readFile(join(service.dataDir, 'pki', 'ca.pem'), 'utf8'));
  deviceClassId = (
    await service.api<{ id: string }>('POST', '/api/v1/device-classes', {
      name: 'pump',
      vendorId: 'fa6b4a53-d5ad-5fdf-be9d-e663e4d41ffe',
      classId: '1492af14-2569-5e48-bf42-9b2d51f2ab45',
    })
  ).id;
}, 90_000);

afterAll(async () => {
  await service?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('agent identity against the real service', () => {
  it('enrolls with a one-time token, then checks in over mTLS; the token works once', async () => {
    await newDevice('pump-token');
    const token = await enrollmentToken('pump-token');
    const store = await openStore('pump-token');
    const est = new EstClient({ baseUrl: service.base, pinnedCa: pin, clock: new JumpClock() });
    const identity = await store.install(
      await est.enroll('pump-token', await store.pendingKey(), { token }),
    );
    expect(new X509Certificate(identity.certificatePem).subject).toContain('CN=pump-token');
    const transport = new HttpTransport({ baseUrl: service.base, pinnedCa: pin, identity: store });
    expect((await transport.checkIn(checkIn, null)).status).toBe(200);
    // One use only.
    const again = await est
      .enroll('pump-token', await (await openStore('pump-token-2')).pendingKey(), { token })
      .catch((e: { code?: string }) => e.code);
    expect(again).toBe('AGENT_ENROLLMENT_REFUSED');
  });

  it('enrolls with a birth certificate of a registered manufacturing CA: pending, accepted, enrolled', async () => {
    const factory = join(dir, 'factory');
    await mkdir(factory);
    const mca = await createRootCa({
      commonName: 'Factory CA',
      validityDays: 365,
      now: new Date(),
    });
    await writeFile(join(factory, 'mca.pem'), mca.certificatePem);
    await writeFile(join(factory, 'mca.key'), mca.privateKeyPem);
    await writeFile(
      join(factory, 'ext.cnf'),
      'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n',
    );
    await openssl(
      ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'birth.key'],
      factory,
    );
    await openssl(
      ['req', '-new', '-key', 'birth.key', '-subj', '/CN=pump-birth', '-out', 'birth.csr'],
      factory,
    );
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        'birth.csr',
        '-CA',
        'mca.pem',
        '-CAkey',
        'mca.key',
        '-CAcreateserial',
        '-days',
        '365',
        '-extfile',
        'ext.cnf',
        '-out',
        'birth.pem',
      ],
      factory,
    );
    await service.api('POST', '/api/v1/pki/manufacturing-cas', {
      certificatePem: mca.certificatePem,
      deviceClass: 'pump',
    });

    const clock = new JumpClock();
    let accepted = false;
    clock.onSleep = async () => {
      // The operator accepts the pending device while the agent waits out Retry-After.
      if (accepted) return;
      const r = await service.api<{ admission: string }>(
        'POST',
        '/api/v1/devices/pump-birth/admission',
        { decision: 'accept' },
      );
      expect(r.admission).toBe('accepted');
      accepted = true;
    };
    const store = await openStore('pump-birth');
    const est = new EstClient({ baseUrl: service.base, pinnedCa: pin, clock });
    await store.install(
      await est.enroll('pump-birth', await store.pendingKey(), {
        birthCertificatePem: await readFile(join(factory, 'birth.pem'), 'utf8'),
        birthKey: { key: await readFile(join(factory, 'birth.key'), 'utf8') },
      }),
    );
    expect(accepted).toBe(true);
    const transport = new HttpTransport({ baseUrl: service.base, pinnedCa: pin, identity: store });
    expect((await transport.checkIn(checkIn, null)).status).toBe(200);
  });

  it('rotates before expiry without a failed check-in; the old certificate works within the grace', async () => {
    await newDevice('pump-rotate');
    const token = await enrollmentToken('pump-rotate');
    const clock = new JumpClock();
    const store = await openStore('pump-rotate');
    const est = new EstClient({ baseUrl: service.base, pinnedCa: pin, clock });
    await store.install(await est.enroll('pump-rotate', await store.pendingKey(), { token }));
    const old: DeviceIdentity = store.current()!;
    const rotation = new IdentityRotation(store, est, clock);
    const transport = new HttpTransport({ baseUrl: service.base, pinnedCa: pin, identity: store });
    const lifetime = old.notAfter - old.notBefore;
    const outcomes: string[] = [];
    // Check-ins across the certificate's life: the agent's clock jumps a tenth of it each time.
    for (let i = 0; i < 8; i += 1) {
      clock.offsetMs = Math.round((lifetime * i) / 10);
      outcomes.push(await rotation.renewIfDue());
      expect((await transport.checkIn(checkIn, null)).status).toBe(200);
    }
    expect(outcomes.filter((o) => o === 'renewed')).toHaveLength(1);
    expect(outcomes.indexOf('renewed')).toBe(7); // the first check-in with less than 1/3 left
    expect(store.current()!.certificatePem).not.toBe(old.certificatePem);
    const withOld = new HttpTransport({
      baseUrl: service.base,
      pinnedCa: pin,
      identity: { current: () => old },
    });
    expect((await withOld.checkIn(checkIn, null)).status).toBe(200);
  });

  it('runs the Linux file agent: enrolls on first start with a token, then polls over mTLS', async () => {
    await newDevice('pump-file');
    const token = await enrollmentToken('pump-file');
    const work = join(dir, 'file-agent');
    await mkdir(work);
    const release = generateKeyPairSync('ed25519').publicKey.export({
      type: 'spki',
      format: 'pem',
    });
    await writeFile(join(work, 'release.pub'), release);
    const config = (enrollment: boolean) =>
      parseAgentConfig(
        {
          server: { url: service.base, caFile: join(service.dataDir, 'pki', 'ca.pem') },
          ...(enrollment ? { enrollment: { token } } : {}),
          device: {
            name: 'pump-file',
            vendorId: 'fa6b4a53-d5ad-5fdf-be9d-e663e4d41ffe',
            classId: '1492af14-2569-5e48-bf42-9b2d51f2ab45',
          },
          trustedKeys: ['release.pub'],
          stateDir: 'state',
          slots: {
            a: { path: 'a.img', size: 65536 },
            b: { path: 'b.img', size: 65536 },
            sectorSize: 4096,
          },
        },
        work,
      );
    // runFileAgent throws the check-in's error when its poll failed (refused, unreachable).
    await runFileAgent(config(true), { until: 'idle' });
    // Second start: enrolled already (the used token is not needed), polls over mTLS again.
    await runFileAgent(config(false), { until: 'idle' });
    const certs = await service.api<{ items: { subject: string }[] }>(
      'GET',
      '/api/v1/pki/certificates?device=pump-file&state=active',
    );
    expect(certs.items).toHaveLength(1);
    const device = await service.api<{ lastSeenAt?: string | null }>(
      'GET',
      '/api/v1/devices/pump-file',
    );
    expect(device.lastSeenAt ?? 'seen').toBeTruthy();
  });

  it('refuses the real service when the pin is another CA (AGENT_TLS_REFUSED)', async () => {
    const other = await createRootCa({ commonName: 'Other', validityDays: 10, now: new Date() });
    const transport = new HttpTransport({
      baseUrl: service.base,
      token: 'x',
      pinnedCa: PinnedCa.parse(other.certificatePem),
    });
    const result = await transport.checkIn(checkIn, null).catch((e: { code?: string }) => e.code);
    expect(result).toBe('AGENT_TLS_REFUSED');
  });

  it('sim fleet --mtls enrolls every device over EST and they check in over mTLS', async () => {
    const work = join(dir, 'fleet');
    await mkdir(work);
    const names = ['sim-a', 'sim-b', 'sim-c'];
    for (const n of names) await newDevice(n);
    await writeFile(join(work, 'devices.txt'), `${names.join('\n')}\n`);
    const env = {
      ...process.env,
      NODE_EXTRA_CA_CERTS: join(service.dataDir, 'pki', 'ca.pem'),
      XDG_CONFIG_HOME: work,
    };
    await mkdir(join(work, 'updraft'));
    await writeFile(
      join(work, 'updraft', 'config.json'),
      JSON.stringify({ server: service.base, token: service.adminToken }),
    );
    const cli = (...args: string[]) => spawnUpdraft(args, { env });
    expect(
      (await cli('keys', 'generate', '--alg', 'ed25519', '--out', join(work, 'release'))).code,
    ).toBe(0);
    expect(
      (
        await cli(
          'sim',
          'image',
          '--key',
          join(work, 'release.key'),
          '--image-version',
          '1.0.0',
          '--sequence-number',
          '1',
          '--out',
          join(work, 'fw.bin'),
        )
      ).code,
    ).toBe(0);
    const r = await cli(
      'sim',
      'fleet',
      '--devices',
      '3',
      '--image',
      join(work, 'fw.bin'),
      '--trusted-key',
      join(work, 'release.pub'),
      '--server',
      service.base,
      '--vendor-id',
      'fa6b4a53-d5ad-5fdf-be9d-e663e4d41ffe',
      '--class-id',
      '1492af14-2569-5e48-bf42-9b2d51f2ab45',
      '--tokens-file',
      join(work, 'devices.txt'),
      '--mtls',
      '--ca-file',
      join(service.dataDir, 'pki', 'ca.pem'),
      '--json',
    );
    // Exit 0: every device enrolled and polled to idle (a refused check-in exits 8).
    expect(r.code, r.out).toBe(0);
    expect(JSON.parse(r.out.slice(r.out.indexOf('{'))).failures).toEqual({});
    for (const n of names) {
      const certs = await service.api<{ items: { subject: string }[] }>(
        'GET',
        `/api/v1/pki/certificates?device=${n}&state=active`,
      );
      expect(certs.items.map((c) => c.subject).join()).toContain(`CN=${n}`);
    }
  });
});
