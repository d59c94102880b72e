import { generateKeyPairSync, randomBytes } from 'node:crypto';
import {
  classIdFromName,
  createEnvelope,
  createKeySigner,
  encryptPayload,
  signEnvelope,
  vendorIdFromDomain,
} from '@updraft/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { coreDecryptor } from './install/core-decryptor.js';
import { coreVerifier } from './install/core-verifier.js';
import { DeviceApiServer } from './testing/device-api-server.js';
import { image, sha256, TestDevice } from './testing/harness.js';

// The agent with core's real SUIT processor: signed COSE envelopes, real keys.

const MAIN = '814100';
const vendorId = vendorIdFromDomain('acme.example');
const classId = classIdFromName(vendorId, 'gateway-7');
const release = generateKeyPairSync('ed25519');
const attacker = generateKeyPairSync('ed25519');
const NEW = image(25_000, 33);

let server: DeviceApiServer;
beforeEach(async () => {
  server = await new DeviceApiServer().start();
});
afterEach(async () => {
  await server.close();
});

async function envelope(
  over: { seq?: number; vendor?: Uint8Array; cls?: Uint8Array; key?: typeof release } = {},
  encryptionInfo?: Uint8Array,
): Promise<Uint8Array> {
  const unsigned = createEnvelope({
    vendorId: over.vendor ?? vendorId,
    classId: over.cls ?? classId,
    sequenceNumber: over.seq ?? 2,
    components: [
      {
        id: MAIN,
        digest: new Uint8Array(Buffer.from(sha256(NEW), 'hex')),
        size: NEW.length,
        uri: 'https://cdn.example/fw.bin',
        ...(encryptionInfo ? { encryptionInfo } : {}),
      },
    ],
  });
  return signEnvelope(unsigned, createKeySigner((over.key ?? release).privateKey));
}

function device(extra: { decryptor?: ReturnType<typeof coreDecryptor> } = {}): TestDevice {
  return new TestDevice(server, {
    main: MAIN,
    verifier: coreVerifier({ trust: { keys: [{ key: release.publicKey }] }, vendorId, classId }),
    ...extra,
  });
}

function offer(env: Uint8Array, payload: Uint8Array = NEW): void {
  server.offer({
    actionId: 'act_s',
    version: '1.1.0',
    sequenceNumber: 2,
    envelope: env,
    payloads: [payload],
  });
}

async function rejectedWith(code: string): Promise<void> {
  const d = device();
  await d.runToIdle();
  expect(server.final('act_s')).toMatchObject({ status: 'rejected', code });
  expect(d.slots.a.writes + d.slots.b.writes).toBe(0);
  expect(d.boot.booted).toBe('a');
  expect(server.requests.some((r) => r.path.includes('/artifacts/'))).toBe(false);
}

describe('agent with SUIT envelopes (core)', () => {
  it('installs a release signed by the trusted key', async () => {
    offer(await envelope());
    const d = device();
    await d.runToIdle();
    expect(server.final('act_s')?.status).toBe('success');
    expect(d.running().subarray(0, NEW.length)).toEqual(NEW);
  });

  it('installs an encrypted payload (AES-KW + A256GCM) with the device key', async () => {
    const kek = randomBytes(32);
    const enc = encryptPayload(NEW, { contentAlg: 'A256GCM', recipients: [{ kek }] });
    offer(await envelope({}, enc.encryptionInfo), enc.ciphertext);
    const d = device({ decryptor: coreDecryptor(kek) });
    await d.runToIdle();
    expect(server.final('act_s')?.status).toBe('success');
    expect(d.running().subarray(0, NEW.length)).toEqual(NEW);
  });

  it('rejects a tampered manifest', async () => {
    const env = await envelope();
    // Flip one byte inside the manifest (after the authentication wrapper).
    const tampered = env.slice();
    tampered[tampered.length - 5]! ^= 0x01;
    offer(tampered);
    const d = device();
    await d.runToIdle();
    const final = server.final('act_s');
    expect(final?.status).toBe('rejected');
    // The authentication wrapper's digest no longer matches the manifest bytes.
    expect(final?.code).toBe('MANIFEST_DIGEST_MISMATCH');
    expect(d.slots.b.writes).toBe(0);
  });

  it('rejects a manifest signed by an unknown key', async () => {
    offer(await envelope({ key: attacker }));
    await rejectedWith('MANIFEST_UNTRUSTED_KEY');
  });

  it('rejects an older sequence number', async () => {
    offer(await envelope({ seq: 1 }));
    await rejectedWith('MANIFEST_ROLLBACK');
  });

  it('rejects another vendor', async () => {
    offer(await envelope({ vendor: vendorIdFromDomain('evil.example') }));
    await rejectedWith('MANIFEST_VENDOR_MISMATCH');
  });

  it('rejects another class', async () => {
    offer(await envelope({ cls: classIdFromName(vendorId, 'other-device') }));
    await rejectedWith('MANIFEST_CLASS_MISMATCH');
  });
});
