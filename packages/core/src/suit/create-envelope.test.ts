import { createSecretKey } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCbor } from '../cbor/cbor-decode.js';
import { encodeCbor } from '../cbor/cbor-encode.js';
import { CborMap, CborTag } from '../cbor/cbor-types.js';
import { createCoseMac0 } from '../cose/cose-sign1.js';
import { createKeySigner } from '../cose/signer.js';
import { generateSigningKeyPair } from '../keys/key-pair.js';
import { createEnvelope, signEnvelope } from './create-envelope.js';
import { decodeEnvelope } from './decode-envelope.js';
import { processEnvelope } from './process-envelope.js';
import { classIdFromName, vendorIdFromDomain } from './suit-uuid.js';
import { verifyEnvelope } from './verify-envelope.js';

const signer = generateSigningKeyPair('ed25519');
const trust = { keys: [{ key: signer.publicKey }] };
const vendorId = vendorIdFromDomain('example.com');
const classId = classIdFromName(vendorId, 'board');

const component = fc.record({
  id: fc.array(fc.uint8Array({ minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 3 }),
  digest: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  size: fc.nat({ max: 2 ** 32 }),
  uri: fc.webUrl(),
  slot: fc.option(fc.nat({ max: 3 }), { nil: undefined }),
});

describe('createEnvelope → signEnvelope → verifyEnvelope / processEnvelope (property)', () => {
  it('gives back every component, digest, size, URI and slot it was built from', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(component, {
          minLength: 1,
          maxLength: 4,
          selector: (c) => Buffer.from(encodeCbor(c.id)).toString('hex'),
        }),
        fc.nat({ max: Number.MAX_SAFE_INTEGER }),
        fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
        async (components, sequenceNumber, note) => {
          const unsigned = createEnvelope({
            vendorId,
            classId,
            sequenceNumber,
            components,
            ...(note !== undefined
              ? { text: { en: { fields: { updateDescription: note } } } }
              : {}),
          });
          const bytes = await signEnvelope(unsigned, createKeySigner(signer.privateKey));
          const summary = verifyEnvelope(bytes, trust);
          expect(summary.sequenceNumber).toBe(sequenceNumber);
          expect(summary.components.map((c) => c.payloads[0]!.uri)).toEqual(
            components.map((c) => c.uri),
          );
          expect(summary.text?.languages.get('en')?.fields.updateDescription).toBe(note);
          const plan = processEnvelope(bytes, {
            trust,
            device: {
              vendorId,
              classId,
              components: components.map((c) => ({
                id: c.id,
                ...(c.slot !== undefined ? { slot: c.slot } : {}),
              })),
            },
          });
          expect(
            plan.components.map((c) => [
              c.id,
              Buffer.from(c.digest.bytes).toString('hex'),
              c.size,
              c.uri,
              c.slot,
            ]),
          ).toEqual(
            components.map((c) => [
              c.id,
              Buffer.from(c.digest).toString('hex'),
              c.size,
              c.uri,
              c.slot,
            ]),
          );
          expect(
            Buffer.from(decodeEnvelope(bytes).manifestBytes).equals(
              decodeEnvelope(unsigned).manifestBytes,
            ),
          ).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('verifies an envelope authenticated with COSE_Mac0 (HMAC 256/256) by its symmetric key', () => {
    const unsigned = createEnvelope({
      vendorId,
      classId,
      sequenceNumber: 1,
      components: [
        { id: '814100', digest: new Uint8Array(32), size: 1, uri: 'https://x.example/a' },
      ],
    });
    const envelope = decodeEnvelope(unsigned);
    const key = createSecretKey(Buffer.alloc(32, 7));
    const raw = (decodeCbor(unsigned) as CborTag).value as CborMap;
    const withMac = (k: typeof key) =>
      encodeCbor(
        new CborTag(
          107,
          new CborMap(
            raw.entries.map(([name, v]) => [
              name,
              name === 2
                ? encodeCbor([
                    envelope.authentication.digestBytes,
                    createCoseMac0(envelope.authentication.digestBytes, k),
                  ])
                : v,
            ]),
          ),
        ),
      );
    expect(verifyEnvelope(withMac(key), { keys: [{ key }] }).signers[0]!.alg).toBe(5);
    expect(() =>
      verifyEnvelope(withMac(createSecretKey(Buffer.alloc(32, 8))), { keys: [{ key }] }),
    ).toThrow(/does not verify/);
  });
});
