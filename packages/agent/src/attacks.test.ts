import { randomBytes } from 'node:crypto';
import { encryptPayload } from '@updraft/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { coreDecryptor } from './install/core-decryptor.js';
import { DeviceApiServer, type TestRelease } from './testing/device-api-server.js';
import { type FakeManifest, fakeEnvelope } from './testing/fake-envelope.js';
import { CLASS, image, TestDevice, type TestDeviceOptions, VENDOR } from './testing/harness.js';

// Every attack must end with: the right code reported to the service, the device still running
// its old image, and not one write to the active slot.

let server: DeviceApiServer;
beforeEach(async () => {
  server = await new DeviceApiServer().start();
});
afterEach(async () => {
  await server.close();
});

const NEW = image(40_000, 9);

function manifest(over: Partial<FakeManifest> = {}): FakeManifest {
  return {
    vendor: VENDOR,
    class: CLASS,
    sequenceNumber: 2,
    components: [{ id: '00', image: NEW }],
    ...over,
  };
}

function offer(envelope: Uint8Array, payload: Uint8Array = NEW): void {
  const r: TestRelease = {
    actionId: 'act_x',
    version: '1.1.0',
    sequenceNumber: 2,
    envelope,
    payloads: [payload],
  };
  server.offer(r);
}

/** Offers NEW encrypted (AES-KW + A128GCM) for a fresh class KEK, which it returns. */
function offerEncrypted(): Uint8Array {
  const kek = randomBytes(16);
  const enc = encryptPayload(NEW, { contentAlg: 'A128GCM', recipients: [{ kek }] });
  const encryption = { info: enc.encryptionInfo, payloadSize: enc.ciphertext.length };
  offer(
    fakeEnvelope(manifest({ components: [{ id: '00', image: NEW, encryption }] })),
    enc.ciphertext,
  );
  return kek;
}

async function attacked(
  expected: { status: 'rejected' | 'failure'; code: string },
  opts: TestDeviceOptions = {},
  prepare?: (device: TestDevice) => void,
): Promise<TestDevice> {
  const device = new TestDevice(server, opts);
  prepare?.(device);
  await device.runToIdle();
  expect(server.final('act_x')).toMatchObject(expected);
  expect(device.boot.booted).toBe('a');
  expect(device.boot.pending).toBeNull();
  expect(device.slots.a.writes).toBe(0);
  expect(device.slots.a.data.subarray(0, device.factory.length)).toEqual(device.factory);
  const journal = await device.agent().loadJournal();
  expect(journal.installed[0]?.sequenceNumber).toBe(1);
  return device;
}

describe('attacks against the agent', () => {
  it('rejects a tampered manifest (MANIFEST_SIGNATURE_INVALID) before touching flash', async () => {
    const good = JSON.parse(Buffer.from(fakeEnvelope(manifest())).toString());
    good.body = good.body.replace('"sequenceNumber":2', '"sequenceNumber":3');
    offer(new Uint8Array(Buffer.from(JSON.stringify(good))));
    const device = await attacked({ status: 'rejected', code: 'MANIFEST_SIGNATURE_INVALID' });
    expect(device.slots.b.writes).toBe(0);
    expect(server.requests.some((r) => r.path.includes('/artifacts/'))).toBe(false);
  });

  it('rejects a manifest signed by an unknown key (MANIFEST_UNTRUSTED_KEY)', async () => {
    offer(fakeEnvelope(manifest(), 'k-attacker', 'attacker-secret'));
    const device = await attacked({ status: 'rejected', code: 'MANIFEST_UNTRUSTED_KEY' });
    expect(device.slots.b.writes).toBe(0);
  });

  it('rejects an older sequence number (MANIFEST_ROLLBACK)', async () => {
    offer(fakeEnvelope(manifest({ sequenceNumber: 1 })));
    const device = await attacked({ status: 'rejected', code: 'MANIFEST_ROLLBACK' });
    expect(device.slots.b.writes).toBe(0);
  });

  it('rejects another vendor (MANIFEST_VENDOR_MISMATCH)', async () => {
    offer(fakeEnvelope(manifest({ vendor: 'other' })));
    await attacked({ status: 'rejected', code: 'MANIFEST_VENDOR_MISMATCH' });
  });

  it('rejects another class (MANIFEST_CLASS_MISMATCH)', async () => {
    offer(fakeEnvelope(manifest({ class: 'other-class' })));
    await attacked({ status: 'rejected', code: 'MANIFEST_CLASS_MISMATCH' });
  });

  it('fails a tampered payload on its digest (MANIFEST_DIGEST_MISMATCH)', async () => {
    const evil = NEW.slice();
    evil[1234]! ^= 0xff;
    offer(fakeEnvelope(manifest()), evil);
    await attacked({ status: 'failure', code: 'MANIFEST_DIGEST_MISMATCH' });
  });

  it('fails a bit flip on the wire (MANIFEST_DIGEST_MISMATCH)', async () => {
    offer(fakeEnvelope(manifest()));
    server.faults.flipBitAt = 30_000;
    await attacked({ status: 'failure', code: 'MANIFEST_DIGEST_MISMATCH' });
  });

  it('stops at the declared size when the server sends endless data (AGENT_PAYLOAD_TOO_LONG)', async () => {
    offer(fakeEnvelope(manifest()));
    server.faults.extraBytes = 10 * 1024 * 1024;
    const device = await attacked({ status: 'failure', code: 'AGENT_PAYLOAD_TOO_LONG' });
    // Nothing past the declared size reached the slot.
    const written = device.slots.b.data.subarray(NEW.length);
    expect(written.every((b) => b === 0xff)).toBe(true);
  });

  it('times out a stalled download and resumes it later with a Range request', async () => {
    offer(fakeEnvelope(manifest()));
    server.faults.stallAfterBytes = 20_000;
    server.faults.stallRequests = 1;
    const device = new TestDevice(server);
    await device.runToIdle();
    expect(server.final('act_x')?.status).toBe('success');
    const gets = server.requests.filter((r) => r.path.includes('/artifacts/'));
    expect(gets).toHaveLength(2);
    // 20 000 bytes arrived; the last whole 4 KiB sector below them was checkpointed.
    expect(gets[1]?.range).toBe('bytes=16384-');
    expect(device.boot.booted).toBe('b');
  });

  it('gives up on a server that always stalls (AGENT_DOWNLOAD_STALLED)', async () => {
    offer(fakeEnvelope(manifest()));
    server.faults.stallAfterBytes = 5_000;
    server.faults.stallRequests = 100;
    await attacked(
      { status: 'failure', code: 'AGENT_DOWNLOAD_STALLED' },
      { options: { maxAttempts: 3, stallTimeoutMs: 100 } },
    );
    expect(server.requests.filter((r) => r.path.includes('/artifacts/'))).toHaveLength(3);
  });

  it('refuses to decrypt with the wrong device key (core code), writing nothing', async () => {
    offerEncrypted();
    const device = await attacked(
      { status: 'failure', code: 'MANIFEST_KEY_UNWRAP_FAILED' },
      { decryptor: coreDecryptor(randomBytes(16)) },
    );
    expect(device.slots.b.writes).toBe(0);
  });

  it('installs an encrypted payload with the right device key', async () => {
    const kek = offerEncrypted();
    const device = new TestDevice(server, { decryptor: coreDecryptor(kek) });
    await device.runToIdle();
    expect(server.final('act_x')?.status).toBe('success');
    expect(device.running().subarray(0, NEW.length)).toEqual(NEW);
  });

  it('catches a bit flip in the inactive slot after writing (AGENT_READBACK_MISMATCH)', async () => {
    offer(fakeEnvelope(manifest()));
    let device: TestDevice | undefined;
    await attacked(
      { status: 'failure', code: 'AGENT_READBACK_MISMATCH' },
      {
        policy: {
          // Runs after the download and before installing: the flash decays in between.
          async canInstall() {
            device!.slots.b.data[777]! ^= 0x10;
            return { ok: true };
          },
        },
      },
      (d) => {
        device = d;
      },
    );
  });
});
