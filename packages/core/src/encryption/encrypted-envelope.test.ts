import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import {
  classIdFromName,
  coseKeyToKeyObject,
  createDecryptStream,
  createDigestCheckStream,
  createEnvelope,
  createKeySigner,
  decodeCoseKey,
  encodeCoseKey,
  encryptPayload,
  generateSigningKeyPair,
  keyObjectToCoseKey,
  processEnvelope,
  signEnvelope,
  vendorIdFromDomain,
} from '../index.js';

// The whole device path inside core: build side encrypts and signs; the device processes the
// envelope, decrypts the payload with its key and checks the plaintext digest from the plan.
describe('an encrypted payload through a signed SUIT envelope', () => {
  const vendorId = vendorIdFromDomain('example.com');
  const classId = classIdFromName(vendorId, 'sensor-x');
  // The device keeps its X25519 key as COSE_Key bytes; the build side knows the public half.
  const generated = generateKeyPairSync('x25519');
  const deviceCoseKey = encodeCoseKey(keyObjectToCoseKey(generated.privateKey));
  const device = {
    publicKey: generated.publicKey,
    privateKey: coseKeyToKeyObject(decodeCoseKey(deviceCoseKey)),
  };
  const plaintext = randomBytes(50_000);

  async function release(contentAlg: 'A128CTR' | 'A128GCM') {
    const { encryptionInfo, ciphertext } = encryptPayload(plaintext, {
      contentAlg,
      recipients: [{ publicKey: device.publicKey, kid: 'dev-1' }],
    });
    const signing = generateSigningKeyPair('es256');
    const unsigned = createEnvelope({
      vendorId,
      classId,
      sequenceNumber: 2,
      components: [
        {
          id: '814100',
          digest: createHash('sha256').update(plaintext).digest(),
          size: plaintext.length,
          uri: 'https://updates.example.com/fw.enc',
          encryptionInfo,
        },
      ],
    });
    const envelope = await signEnvelope(unsigned, createKeySigner(signing.privateKey));
    const plan = processEnvelope(envelope, {
      trust: { keys: [{ key: signing.publicKey }] },
      device: { vendorId, classId, components: [{ id: '814100', sequenceNumber: 1 }] },
    });
    return { plan, ciphertext };
  }

  async function install(
    step: Awaited<ReturnType<typeof release>>['plan']['components'][number],
    ciphertext: Uint8Array,
  ): Promise<Buffer> {
    const written: Buffer[] = [];
    const slot = new Writable({
      write(chunk: Buffer, _enc, cb) {
        written.push(chunk);
        cb();
      },
    });
    if (!step.encryptionInfo) throw new Error('the plan lost the encryption info');
    await pipeline(
      Readable.from([Buffer.from(ciphertext)]),
      createDecryptStream(step.encryptionInfo, { key: device.privateKey, kid: 'dev-1' }),
      createDigestCheckStream(step.digest, step.size),
      slot,
    );
    return Buffer.concat(written);
  }

  for (const alg of ['A128CTR', 'A128GCM'] as const) {
    it(`${alg}: the plan carries the encryption info and the payload decrypts to the signed digest`, async () => {
      const { plan, ciphertext } = await release(alg);
      const step = plan.components[0]!;
      expect((await install(step, ciphertext)).equals(plaintext)).toBe(true);
    });
  }

  it('A128CTR: a flipped ciphertext bit is caught by the plaintext digest (MANIFEST_DIGEST_MISMATCH)', async () => {
    const { plan, ciphertext } = await release('A128CTR');
    const tampered = Buffer.from(ciphertext);
    tampered[4321] = (tampered[4321] ?? 0) ^ 0x20;
    await expect(install(plan.components[0]!, tampered)).rejects.toMatchObject({
      code: 'MANIFEST_DIGEST_MISMATCH',
    });
  });

  it('A128GCM: a flipped ciphertext bit is caught by the tag (MANIFEST_DECRYPTION_FAILED)', async () => {
    const { plan, ciphertext } = await release('A128GCM');
    const tampered = Buffer.from(ciphertext);
    tampered[4321] = (tampered[4321] ?? 0) ^ 0x20;
    await expect(install(plan.components[0]!, tampered)).rejects.toMatchObject({
      code: 'MANIFEST_DECRYPTION_FAILED',
    });
  });
});
