import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAgentConfig, runFileAgent } from '@updraft/agent';
import { componentIdFromHex, createEnvelope, createKeySigner, signEnvelope } from '@updraft/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SpawnedService, startService } from './service-fixture.js';

// The real service (`updraft server start`, embedded MQTT broker on TLS) and the real Linux
// agent daemon (`runFileAgent`): the agent polls every 300 s, yet an assignment reaches it at
// once through the push notice. Only public entry points are imported.

const MAIN = '814100';
const vendorId = randomUUID();
const classId = randomUUID();
const releaseKey = generateKeyPairSync('ed25519');

let dir: string;
let service: SpawnedService;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'updraft-e2e-push-'));
  service = await startService({ UPDRAFT_TLS: 'true' });
}, 60_000);

afterAll(async () => {
  await service?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('MQTT push (embedded broker)', () => {
  it('makes an idle agent check in within a second of an assignment and see the action', async () => {
    const api = service.api.bind(service);
    const cls = await api<{ id: string }>('POST', '/api/v1/device-classes', {
      name: 'push-class',
      vendorId,
      classId,
    });
    await api('POST', `/api/v1/device-classes/${cls.id}/keys`, {
      format: 'pem',
      key: releaseKey.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    });
    const device = await api<{ device: { id: string }; token: string }>('POST', '/api/v1/devices', {
      name: 'push-gw-1',
      deviceClassId: cls.id,
    });
    const image = Buffer.alloc(4096, 7);
    const unsigned = createEnvelope({
      vendorId,
      classId,
      sequenceNumber: 2,
      components: [
        {
          id: MAIN,
          digest: new Uint8Array(createHash('sha256').update(image).digest()),
          size: image.length,
          uri: 'https://fw.example/main.bin',
        },
      ],
      text: {
        en: {
          fields: { updateDescription: 'push' },
          components: [{ id: componentIdFromHex(MAIN), fields: { componentVersion: '2.0.0' } }],
        },
      },
    });
    const envelope = await signEnvelope(unsigned, createKeySigner(releaseKey.privateKey));
    const release = await api<{ id: string }>('POST', '/api/v1/releases', {
      deviceClassId: cls.id,
      envelope: Buffer.from(envelope).toString('base64'),
      payloads: [{ data: image.toString('base64') }],
    });

    const home = join(dir, 'gw');
    await mkdir(home, { recursive: true });
    await writeFile(
      join(home, 'release.pub'),
      releaseKey.publicKey.export({ type: 'spki', format: 'pem' }),
    );
    const config = parseAgentConfig(
      {
        server: {
          url: service.base,
          token: device.token,
          caFile: join(service.dataDir, 'pki', 'ca.pem'),
        },
        device: { vendorId, classId },
        trustedKeys: ['release.pub'],
        stateDir: 'state',
        slots: {
          a: { path: 'a.img', size: 1 << 16 },
          b: { path: 'b.img', size: 1 << 16 },
          sectorSize: 4096,
        },
        mainComponent: MAIN,
        installed: { version: '1.0.0', sequenceNumber: 1 },
        pollIntervalSeconds: 300,
      },
      home,
    );
    const stop = new AbortController();
    const checkIns: { action: string | null; at: number }[] = [];
    const logs: string[] = [];
    const log = (fields: Record<string, unknown>, message: string) =>
      logs.push(`${message} ${JSON.stringify(fields)}`);
    const running = runFileAgent(config, {
      signal: stop.signal,
      logger: { debug: () => {}, info: log, warn: log, error: log },
      events: {
        emit(event) {
          if (event.type === 'check-in')
            checkIns.push({ action: event.action, at: performance.now() });
        },
      },
    });
    try {
      await expect
        .poll(() => logs.join('\n'), { timeout: 10_000 })
        .toContain('push notices subscribed');
      expect(checkIns).toHaveLength(1); // the first poll; the next one is 300 s away
      const t0 = performance.now();
      const { id } = await api<{ id: string }>('POST', '/api/v1/actions', {
        deviceId: device.device.id,
        releaseId: release.id,
      });
      await expect
        .poll(() => checkIns.find((c) => c.action === id), { timeout: 5_000 })
        .toBeTruthy();
      const seen = checkIns.find((c) => c.action === id)!;
      expect(seen.at - t0).toBeLessThan(1000);
    } finally {
      stop.abort();
      await running.catch(() => undefined);
    }
  });
});
