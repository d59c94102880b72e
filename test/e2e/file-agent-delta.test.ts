import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAgentConfig, runFileAgent } from '@updraft/agent';
import { createEnvelope, createKeySigner, signEnvelope } from '@updraft/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SpawnedService, startService } from './service-fixture.js';

// A Linux device's first update through a server-side delta: the file agent reports the SHA-256
// of the factory image in slot a (it used to report none, so no delta base ever matched), the
// service offers the patch made from 1.0.0, and the device rebuilds 1.1.0 from its active slot.

const MAIN = '814100';
const vendorId = randomUUID();
const classId = randomUUID();
const releaseKey = generateKeyPairSync('ed25519');

let service: SpawnedService;
let deviceClassId: string;
let dir: string;

async function release(seq: number, version: string, image: Uint8Array): Promise<string> {
  const unsigned = createEnvelope({
    vendorId,
    classId,
    sequenceNumber: seq,
    components: [
      {
        id: MAIN,
        digest: new Uint8Array(createHash('sha256').update(image).digest()),
        size: image.length,
        uri: `https://fw.example/${version}.bin`,
      },
    ],
  });
  const envelope = await signEnvelope(unsigned, createKeySigner(releaseKey.privateKey));
  const created = await service.api<{ id: string }>('POST', '/api/v1/releases', {
    deviceClassId,
    version,
    envelope: Buffer.from(envelope).toString('base64'),
    payloads: [{ data: Buffer.from(image).toString('base64') }],
  });
  return created.id;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'updraft-e2e-file-delta-'));
  service = await startService({ UPDRAFT_LOG_LEVEL: 'info' });
  deviceClassId = (
    await service.api<{ id: string }>('POST', '/api/v1/device-classes', {
      name: 'linux-gateway',
      vendorId,
      classId,
    })
  ).id;
  await service.api('POST', `/api/v1/device-classes/${deviceClassId}/keys`, {
    format: 'pem',
    key: releaseKey.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  });
}, 60_000);

afterAll(async () => {
  await service?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('file-backed Linux device and server-side deltas', () => {
  it('takes its first update as a patch against the factory image in slot a', async () => {
    // Firmware-like: a 200 KB image whose next version changes a few hundred bytes.
    const v1 = new Uint8Array(200_000).map((_, i) => (i * 31 + (i >> 7)) & 0xff);
    const v2 = v1.slice();
    for (let i = 50_000; i < 50_400; i++) v2[i] = (v2[i]! + 1) & 0xff;
    await release(1, '1.0.0', v1);
    const target = await release(2, '1.1.0', v2);
    await service.api('PUT', `/api/v1/releases/${target}/delta-bases`, {
      bases: ['1.0.0'],
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

    const device = await service.api<{ device: { id: string }; token: string }>(
      'POST',
      '/api/v1/devices',
      { name: 'gateway-delta', deviceClassId },
    );
    const actionId = (
      await service.api<{ id: string }>('POST', '/api/v1/actions', {
        deviceId: device.device.id,
        releaseId: target,
      })
    ).id;
    // The factory image, as flashed at manufacturing: slot a's file holds exactly 1.0.0.
    await writeFile(join(dir, 'a.img'), v1);
    await writeFile(
      join(dir, 'release.pub'),
      releaseKey.publicKey.export({ type: 'spki', format: 'pem' }),
    );
    const config = parseAgentConfig(
      {
        server: { url: service.base, token: device.token },
        device: { vendorId, classId },
        trustedKeys: ['release.pub'],
        stateDir: 'state',
        slots: {
          a: { path: 'a.img', size: 1 << 20 },
          b: { path: 'b.img', size: 1 << 20 },
          sectorSize: 65536,
        },
        installed: { version: '1.0.0', sequenceNumber: 1 },
      },
      dir,
    );
    const fullBefore = await service.metric('updraft_downloads_total{kind="full"}');
    await runFileAgent(config, { until: 'idle' });
    expect((await service.api<{ state: string }>('GET', `/api/v1/actions/${actionId}`)).state).toBe(
      'success',
    );
    // Through the patch: no full download of the image.
    expect(await service.metric('updraft_downloads_total{kind="full"}')).toBe(fullBefore);
    await expect.poll(async () => (await view()).deliveries).toBe(1);
    const slotB = await readFile(join(dir, 'b.img'));
    expect(slotB.subarray(0, v2.length).equals(Buffer.from(v2))).toBe(true);
  }, 90_000);
});
