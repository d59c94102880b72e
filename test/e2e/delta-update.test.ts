import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { coreVerifier, HttpTransport } from '@updraft/agent';
import {
  AgentApplication,
  buildImage,
  defaultLayoutSpec,
  generateTestKey,
  SimFleet,
} from '@updraft/sim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileDevice } from './file-device.js';
import {
  createDeviceClass,
  newReleaseIdentity,
  publishRelease,
  type SpawnedService,
  startService,
} from './service-fixture.js';

// Server-generated deltas end to end: the real service (spawned `updraft server start`) is told
// that a release gets deltas from 1.0.0, creates the patch in its background worker, offers it at
// check-in to a simulated MCU running 1.0.0, which rebuilds the image from its active slot; the
// service counts the bytes saved. A file-backed Linux device takes its first update the same way
// against the factory image in its slot a. Only public entry points are imported.

const MAIN = '814100';
const identity = newReleaseIdentity();
const imageKey = generateTestKey();
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let service: SpawnedService;
let deviceClassId: string;
let dir: string;

const release = (seq: number, version: string, image: Uint8Array) =>
  publishRelease(service, identity, { deviceClassId, componentId: MAIN, seq, version, image });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'updraft-e2e-delta-'));
  service = await startService({ UPDRAFT_LOG_LEVEL: 'info' });
  deviceClassId = await createDeviceClass(service, identity, 'delta-mcu');
}, 60_000);

afterAll(async () => {
  await service?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('server-generated delta, end to end', () => {
  it('updates a device on the base version through the patch and counts the bytes saved', async () => {
    const v1 = buildImage({
      version: '1.0.0',
      sequenceNumber: 1,
      behaviour: 'healthy',
      size: 40_000,
      key: imageKey.signing,
    });
    // Same filler seed as 1.0.0/1 (buildImage seeds by sequence number and version): the new
    // image differs from the old in its header and signature only, a small firmware change.
    const x = ((2 * 0x9e3779b1) ^ 0x9e3779b1 ^ (1 << 24)) >>> 0;
    const version2 = `${x >>> 24}.${(x >>> 16) & 0xff}.${x & 0xffff}`;
    const v2 = buildImage({
      version: version2,
      sequenceNumber: 2,
      behaviour: 'healthy',
      size: 40_000,
      key: imageKey.signing,
    });
    await release(1, '1.0.0', v1);
    const target = await release(2, '2.0.0', v2);
    await service.api('PUT', `/api/v1/releases/${target}/delta-bases`, {
      bases: ['1.0.0'],
      anyInstalled: false,
    });
    type View = {
      patches: { state: string; patchSize: number | null; baseDigest: string }[];
      deliveries: number;
      bytesSaved: number;
    };
    const view = () => service.api<View>('GET', `/api/v1/releases/${target}/deltas`);
    await expect
      .poll(async () => (await view()).patches[0]?.state, { timeout: 30_000 })
      .toBe('ready');
    const patchSize = (await view()).patches[0]!.patchSize!;
    expect(patchSize).toBeLessThan(v2.length / 10);

    const device = await service.api<{ device: { id: string }; token: string }>(
      'POST',
      '/api/v1/devices',
      { name: 'mcu-delta', deviceClassId },
    );
    const actionId = (
      await service.api<{ id: string }>('POST', '/api/v1/actions', {
        deviceId: device.device.id,
        releaseId: target,
      })
    ).id;
    const fullBefore = await service.metric('updraft_downloads_total{kind="full"}');
    const fleet = new SimFleet({
      devices: 1,
      layout: defaultLayoutSpec('ab', { slotSectors: new Array(16).fill(4096) }),
      trustedKeys: [imageKey.trusted],
      initialImage: v1,
      application: () =>
        new AgentApplication({
          transport: new HttpTransport({ baseUrl: service.base, token: device.token }),
          verifier: coreVerifier({
            trust: { keys: [{ key: identity.releaseKey.publicKey }] },
            vendorId: identity.vendorId,
            classId: identity.classId,
          }),
          initialComponents: [{ id: MAIN, version: '1.0.0', sequenceNumber: 1, digest: sha(v1) }],
          agentOptions: { mainComponent: MAIN, backoffBaseMs: 10, backoffCapMs: 100 },
        }),
    });
    const round = await fleet.runRound();
    expect(round.outcomes.bricked).toBe(0);
    expect(round.versions).toEqual({ [version2]: 1 });
    expect((await service.api<{ state: string }>('GET', `/api/v1/actions/${actionId}`)).state).toBe(
      'success',
    );
    // The device took the patch: no full download, one delivery, bytes saved = image − patch.
    expect(await service.metric('updraft_downloads_total{kind="full"}')).toBe(fullBefore);
    expect(
      await service.metric('updraft_downloads_total{kind="delta_full"}'),
    ).toBeGreaterThanOrEqual(1);
    await expect.poll(async () => (await view()).deliveries).toBe(1);
    const saved = v2.length - patchSize;
    expect((await view()).bytesSaved).toBe(saved);
    expect(await service.metric('updraft_delta_bytes_saved_total')).toBe(saved);
    expect(await service.api('GET', `/api/v1/releases/${target}`)).toMatchObject({
      deltaDeliveries: 1,
      deltaBytesSaved: saved,
    });
    expect(service.output()).toContain('delta delivered');
  }, 90_000);
  // A Linux device's first update: the file agent reports the SHA-256 of the factory image in
  // slot a (it used to report none, so no delta base ever matched).
  it('updates a file-backed Linux device on its factory image through the patch', async () => {
    // Firmware-like: a 200 KB image whose next version changes a few hundred bytes.
    const v1 = new Uint8Array(200_000).map((_, i) => (i * 31 + (i >> 7)) & 0xff);
    const v2 = v1.slice();
    for (let i = 50_000; i < 50_400; i++) v2[i] = (v2[i]! + 1) & 0xff;
    await release(3, '3.0.0', v1);
    const target = await release(4, '3.1.0', v2);
    await service.api('PUT', `/api/v1/releases/${target}/delta-bases`, {
      bases: ['3.0.0'],
      anyInstalled: false,
    });
    const view = () =>
      service.api<{ patches: { state: string }[]; deliveries: number }>(
        'GET',
        `/api/v1/releases/${target}/deltas`,
      );
    await expect
      .poll(async () => (await view()).patches[0]?.state, { timeout: 30_000 })
      .toBe('ready');

    // The factory image, as flashed at manufacturing: slot a's file holds exactly 3.0.0.
    const device = await createFileDevice(service, identity, {
      deviceClassId,
      name: 'gateway-delta',
      home: dir,
      factory: v1,
      installed: { version: '3.0.0', sequenceNumber: 3 },
      sectorSize: 65536,
    });
    const actionId = (
      await service.api<{ id: string }>('POST', '/api/v1/actions', {
        deviceId: device.id,
        releaseId: target,
      })
    ).id;
    const fullBefore = await service.metric('updraft_downloads_total{kind="full"}');
    await device.run();
    expect((await service.api<{ state: string }>('GET', `/api/v1/actions/${actionId}`)).state).toBe(
      'success',
    );
    // Through the patch: no full download of the image.
    expect(await service.metric('updraft_downloads_total{kind="full"}')).toBe(fullBefore);
    await expect.poll(async () => (await view()).deliveries).toBe(1);
    const slotB = await device.slotB(v2.length);
    expect(slotB.equals(Buffer.from(v2))).toBe(true);
  }, 90_000);
});
