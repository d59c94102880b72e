import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { classIdFromName, encryptPayload, vendorIdFromDomain } from '@updraft/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { coreDecryptor } from './install/core-decryptor.js';
import { DeviceApiServer, type TestRelease } from './testing/device-api-server.js';
import { image, MAIN, TestDevice, type TestDeviceOptions } from './testing/harness.js';
import {
  signedEnvelope,
  type TestManifest,
  VENDOR,
  withBadSignature,
} from './testing/signed-release.js';

// The envelopes are real SUIT (core's builder and COSE signer) and the device verifies them with
// core's processor (coreVerifier), so each refusal code below is core's, not a test double's.
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

const attacker = generateKeyPairSync('ed25519');

function envelope(over: Partial<TestManifest> = {}): Promise<Uint8Array> {
  return signedEnvelope({ sequenceNumber: 2, components: [{ id: MAIN, image: NEW }], ...over });
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
async function offerEncrypted(): Promise<Uint8Array> {
  const kek = randomBytes(16);
  const enc = encryptPayload(NEW, { contentAlg: 'A128GCM', recipients: [{ kek }] });
  offer(
    await envelope({ components: [{ id: MAIN, image: NEW, encryptionInfo: enc.encryptionInfo }] }),
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
  it('rejects a forged signature (MANIFEST_SIGNATURE_INVALID) before touching flash', async () => {
    offer(withBadSignature(await envelope()));
    const device = await attacked({ status: 'rejected', code: 'MANIFEST_SIGNATURE_INVALID' });
    expect(device.slots.b.writes).toBe(0);
    expect(server.requests.some((r) => r.path.includes('/artifacts/'))).toBe(false);
  });

  it('rejects a manifest changed after signing (MANIFEST_DIGEST_MISMATCH)', async () => {
    const tampered = (await envelope()).slice();
    // A byte inside the manifest (after the authentication wrapper) no longer matches its digest.
    tampered[tampered.length - 5]! ^= 0x01;
    offer(tampered);
    const device = await attacked({ status: 'rejected', code: 'MANIFEST_DIGEST_MISMATCH' });
    expect(device.slots.b.writes).toBe(0);
    expect(server.requests.some((r) => r.path.includes('/artifacts/'))).toBe(false);
  });

  it('rejects a manifest signed by an unknown key (MANIFEST_UNTRUSTED_KEY)', async () => {
    offer(await envelope({ key: attacker.privateKey }));
    const device = await attacked({ status: 'rejected', code: 'MANIFEST_UNTRUSTED_KEY' });
    expect(device.slots.b.writes).toBe(0);
  });

  it('rejects an older sequence number (MANIFEST_ROLLBACK)', async () => {
    offer(await envelope({ sequenceNumber: 1 }));
    const device = await attacked({ status: 'rejected', code: 'MANIFEST_ROLLBACK' });
    expect(device.slots.b.writes).toBe(0);
  });

  it('rejects another vendor (MANIFEST_VENDOR_MISMATCH)', async () => {
    offer(await envelope({ vendorId: vendorIdFromDomain('evil.example') }));
    await attacked({ status: 'rejected', code: 'MANIFEST_VENDOR_MISMATCH' });
  });

  it('rejects another class (MANIFEST_CLASS_MISMATCH)', async () => {
    offer(await envelope({ classId: classIdFromName(VENDOR, 'other-class') }));
    await attacked({ status: 'rejected', code: 'MANIFEST_CLASS_MISMATCH' });
  });

  it('fails a tampered payload on its digest (MANIFEST_DIGEST_MISMATCH)', async () => {
    const evil = NEW.slice();
    evil[1234]! ^= 0xff;
    offer(await envelope(), evil);
    await attacked({ status: 'failure', code: 'MANIFEST_DIGEST_MISMATCH' });
  });

  it('fails a bit flip on the wire (MANIFEST_DIGEST_MISMATCH)', async () => {
    offer(await envelope());
    server.faults.flipBitAt = 30_000;
    await attacked({ status: 'failure', code: 'MANIFEST_DIGEST_MISMATCH' });
  });

  it('stops at the declared size when the server sends endless data (AGENT_PAYLOAD_TOO_LONG)', async () => {
    offer(await envelope());
    server.faults.extraBytes = 10 * 1024 * 1024;
    const device = await attacked({ status: 'failure', code: 'AGENT_PAYLOAD_TOO_LONG' });
    // Nothing past the declared size reached the slot.
    const written = device.slots.b.data.subarray(NEW.length);
    expect(written.every((b) => b === 0xff)).toBe(true);
  });

  it('times out a stalled download and resumes it later with a Range request', async () => {
    offer(await envelope());
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
    offer(await envelope());
    server.faults.stallAfterBytes = 5_000;
    server.faults.stallRequests = 100;
    await attacked(
      { status: 'failure', code: 'AGENT_DOWNLOAD_STALLED' },
      { options: { maxAttempts: 3, stallTimeoutMs: 100 } },
    );
    expect(server.requests.filter((r) => r.path.includes('/artifacts/'))).toHaveLength(3);
  });

  it('refuses to decrypt with the wrong device key (core code), writing nothing', async () => {
    await offerEncrypted();
    const device = await attacked(
      { status: 'failure', code: 'MANIFEST_KEY_UNWRAP_FAILED' },
      { decryptor: coreDecryptor(randomBytes(16)) },
    );
    expect(device.slots.b.writes).toBe(0);
  });

  it('installs an encrypted payload with the right device key', async () => {
    const kek = await offerEncrypted();
    const device = new TestDevice(server, { decryptor: coreDecryptor(kek) });
    await device.runToIdle();
    expect(server.final('act_x')?.status).toBe('success');
    expect(device.running().subarray(0, NEW.length)).toEqual(NEW);
  });

  it('catches a bit flip in the inactive slot after writing (AGENT_READBACK_MISMATCH)', async () => {
    offer(await envelope());
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
