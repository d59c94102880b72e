import { createHash, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AgentError,
  coreVerifier,
  HttpTransport,
  type PayloadResponse,
  parseAgentConfig,
  runFileAgent,
  type Transport,
} from '@updraft/agent';
import { componentIdFromHex, createEnvelope, createKeySigner, signEnvelope } from '@updraft/core';
import {
  AgentApplication,
  buildImage,
  defaultLayoutSpec,
  generateTestKey,
  SimFleet,
} from '@updraft/sim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SpawnedService, startService } from './service-fixture.js';

// The real update service, spawned as `updraft server start` over loopback, and devices running
// the real agent: simulated MCUs (@updraft/sim: flash, MCUboot-like bootloader) and a file-backed
// Linux device. Only public entry points are imported.

const MAIN = '814100';
const CONFIG = '814101';
const vendorId = randomUUID();
const classId = randomUUID();
const releaseKey = generateKeyPairSync('ed25519');
const imageKey = generateTestKey();
const layout = defaultLayoutSpec('ab-factory', { slotSectors: new Array(16).fill(4096) });

let dir: string;
let service: SpawnedService;
let base: string;
let deviceClassId: string;

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

const api = <T = Record<string, unknown>>(method: string, path: string, body?: unknown) =>
  service.api<T>(method, path, body);

async function newDevice(name: string): Promise<{ id: string; token: string }> {
  const r = await api<{ device: { id: string }; token: string }>('POST', '/api/v1/devices', {
    name,
    deviceClassId,
  });
  return { id: r.device.id, token: r.token };
}

async function release(
  seq: number,
  version: string,
  components: { id: string; image: Uint8Array }[],
): Promise<string> {
  const unsigned = createEnvelope({
    vendorId,
    classId,
    sequenceNumber: seq,
    components: components.map((c) => ({
      id: c.id,
      digest: new Uint8Array(createHash('sha256').update(c.image).digest()),
      size: c.image.length,
      uri: `https://fw.example/${c.id}-${version}.bin`,
    })),
    text: {
      en: {
        fields: { updateDescription: `release ${version}` },
        components: [{ id: componentIdFromHex(MAIN), fields: { componentVersion: version } }],
      },
    },
  });
  const envelope = await signEnvelope(unsigned, createKeySigner(releaseKey.privateKey));
  const r = await api<{ id: string }>('POST', '/api/v1/releases', {
    deviceClassId,
    envelope: Buffer.from(envelope).toString('base64'),
    payloads: components.map((c) => ({ data: Buffer.from(c.image).toString('base64') })),
  });
  return r.id;
}

async function assign(deviceId: string, releaseId: string): Promise<string> {
  return (await api<{ id: string }>('POST', '/api/v1/actions', { deviceId, releaseId })).id;
}

async function action(
  id: string,
): Promise<{ state: string; events: { status: string; code: string | null }[] }> {
  return api('GET', `/api/v1/actions/${id}`);
}

const downloads = (kind: string) => service.metric(`updraft_downloads_total{kind="${kind}"}`);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'updraft-e2e-agent-'));
  service = await startService();
  base = service.base;
  deviceClassId = (
    await api<{ id: string }>('POST', '/api/v1/device-classes', {
      name: 'gateway',
      vendorId,
      classId,
    })
  ).id;
  await api('POST', `/api/v1/device-classes/${deviceClassId}/keys`, {
    format: 'pem',
    key: releaseKey.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  });
}, 60_000);

afterAll(async () => {
  await service?.close();
  await rm(dir, { recursive: true, force: true });
});

const v1 = buildImage({
  version: '1.0.0',
  sequenceNumber: 1,
  behaviour: 'healthy',
  size: 30_000,
  key: imageKey.signing,
});

/** Simulated MCUs, each with its own device token, running the real agent against the service. */
function simFleet(devices: { token: string }[], wrap: (t: Transport) => Transport = (t) => t) {
  return new SimFleet({
    devices: devices.length,
    layout,
    trustedKeys: [imageKey.trusted],
    initialImage: v1,
    factoryImage: v1,
    application: (index) =>
      new AgentApplication({
        transport: wrap(new HttpTransport({ baseUrl: base, token: devices[index]!.token })),
        seed: index + 1,
        verifier: coreVerifier({
          trust: { keys: [{ key: releaseKey.publicKey }] },
          vendorId,
          classId,
        }),
        initialComponents: [{ id: MAIN, version: '1.0.0', sequenceNumber: 1, digest: sha256(v1) }],
        agentOptions: { mainComponent: MAIN, backoffBaseMs: 10, backoffCapMs: 100 },
      }),
  });
}

describe('agent against the real update service', () => {
  it('brings a good release to every device, then reverts a release that crashes on boot', async () => {
    const devices = await Promise.all([0, 1, 2].map((i) => newDevice(`mcu-${i}`)));
    const fleet = simFleet(devices);

    const v2 = buildImage({
      version: '1.1.0',
      sequenceNumber: 2,
      behaviour: 'healthy',
      size: 40_000,
      key: imageKey.signing,
    });
    const good = await release(2, '1.1.0', [{ id: MAIN, image: v2 }]);
    const goodActions = await Promise.all(devices.map((d) => assign(d.id, good)));
    let round = await fleet.runRound();
    expect(round.outcomes.bricked).toBe(0);
    expect(round.versions).toEqual({ '1.1.0': 3 });
    for (const id of goodActions) {
      const a = await action(id);
      expect(a.state).toBe('success');
      expect(a.events.map((e) => e.status)).toEqual(
        expect.arrayContaining(['downloading', 'downloaded', 'installing', 'rebooting', 'success']),
      );
    }

    const v3 = buildImage({
      version: '1.2.0',
      sequenceNumber: 3,
      behaviour: 'crash-on-boot',
      size: 40_000,
      key: imageKey.signing,
    });
    const bad = await release(3, '1.2.0', [{ id: MAIN, image: v3 }]);
    const badActions = await Promise.all(devices.map((d) => assign(d.id, bad)));
    round = await fleet.runRound();
    expect(round.outcomes.bricked).toBe(0);
    expect(round.versions).toEqual({ '1.1.0': 3 });
    for (const id of badActions) {
      const a = await action(id);
      expect(a.state).toBe('failure');
      expect(a.events.at(-1)).toMatchObject({ status: 'failure', code: 'SIM_BOOT_TRIAL_REVERTED' });
    }
  });

  it('resumes an interrupted download with a Range request', async () => {
    const [device] = [await newDevice('mcu-flaky')];
    let cut = true;
    // The link drops once, 20 000 bytes into the payload.
    const flaky = (t: Transport): Transport => ({
      checkIn: (r, e) => t.checkIn(r, e),
      fetchEnvelope: (u, m) => t.fetchEnvelope(u, m),
      sendFeedback: (a, r) => t.sendFeedback(a, r),
      async openPayload(url, offset, signal): Promise<PayloadResponse> {
        const res = await t.openPayload(url, offset, signal);
        if (!cut) return res;
        cut = false;
        async function* dropAfter(limit: number) {
          let seen = 0;
          for await (const chunk of res.body) {
            if (seen + chunk.length > limit) {
              yield chunk.subarray(0, limit - seen);
              throw new AgentError('AGENT_NETWORK_ERROR', 'link dropped');
            }
            seen += chunk.length;
            yield chunk;
          }
        }
        return { ...res, body: dropAfter(20_000) };
      },
    });
    const fleet = simFleet([device!], flaky);
    const v2 = buildImage({
      version: '1.1.0',
      sequenceNumber: 2,
      behaviour: 'healthy',
      size: 40_000,
      key: imageKey.signing,
    });
    const rel = await release(4, '1.1.1', [{ id: MAIN, image: v2 }]);
    const id = await assign(device!.id, rel);
    const rangesBefore = await downloads('range');
    const round = await fleet.runRound();
    expect(cut).toBe(false);
    expect(round.versions).toEqual({ '1.1.0': 1 });
    expect((await action(id)).state).toBe('success');
    expect(await downloads('range')).toBeGreaterThan(rangesBefore);
  });

  it('updates every component of a multi-component release on a file-backed Linux device', async () => {
    const device = await newDevice('gateway-1');
    const main = randomBytes(300_000);
    const config = new TextEncoder().encode('{"sampleRateHz":50}\n');
    const agentConfig = parseAgentConfig(
      {
        server: { url: base, token: device.token },
        device: { vendorId, classId },
        trustedKeys: ['release.pub'],
        stateDir: 'state',
        slots: {
          a: { path: 'a.img', size: 1 << 20 },
          b: { path: 'b.img', size: 1 << 20 },
          sectorSize: 65536,
        },
        mainComponent: MAIN,
        components: [{ id: CONFIG, path: 'app-config.json', maxSize: 4096 }],
        installed: { version: '1.0.0', sequenceNumber: 1 },
      },
      join(dir, 'gateway'),
    );
    const { mkdir, writeFile } = await import('node:fs/promises');
    await mkdir(join(dir, 'gateway'), { recursive: true });
    await writeFile(
      join(dir, 'gateway', 'release.pub'),
      releaseKey.publicKey.export({ type: 'spki', format: 'pem' }),
    );
    await writeFile(join(dir, 'gateway', 'app-config.json'), '{"sampleRateHz":10}\n');
    const rel = await release(5, '2.0.0', [
      { id: MAIN, image: main },
      { id: CONFIG, image: config },
    ]);
    const id = await assign(device.id, rel);
    await runFileAgent(agentConfig, { until: 'idle' });
    expect((await action(id)).state).toBe('success');
    const slotB = await readFile(join(dir, 'gateway', 'b.img'));
    expect(slotB.subarray(0, main.length).equals(main)).toBe(true);
    expect(await readFile(join(dir, 'gateway', 'app-config.json'), 'utf8')).toBe(
      '{"sampleRateHz":50}\n',
    );
    const boot = JSON.parse(
      await readFile(join(dir, 'gateway', 'state', 'boot-state.json'), 'utf8'),
    );
    expect(boot).toMatchObject({ booted: 'b', trial: false });
  });
});
