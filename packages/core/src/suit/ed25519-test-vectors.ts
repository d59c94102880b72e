// Builds Updraft's own Ed25519 SUIT vectors (no public ones exist). Ed25519 signatures are
// deterministic, so the bytes are reproducible: ed25519-vectors.test.ts checks that building again
// gives the checked-in files. Regenerate with: npx tsx packages/core/src/suit/ed25519-test-vectors.ts
import { createHash, createPrivateKey, type KeyObject } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createKeySigner } from '../cose/signer.js';
import { exportPem, publicKeyOf } from '../keys/key-pair.js';
import { createEnvelope, signEnvelope } from './create-envelope.js';
import { decodeEnvelope } from './decode-envelope.js';
import { classIdFromName, formatUuid, vendorIdFromDomain } from './suit-uuid.js';

export const TESTDATA = new URL('./testdata/', import.meta.url);

/** Published test key material (RFC 8032 §7.1 TEST 1 secret key): never use it for anything real. */
const RFC8032_TEST1_SEED = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';

export function testKey(): KeyObject {
  const pkcs8Prefix = Buffer.from('302e020100300506032b657004220420', 'hex');
  return createPrivateKey({
    key: Buffer.concat([pkcs8Prefix, Buffer.from(RFC8032_TEST1_SEED, 'hex')]),
    format: 'der',
    type: 'pkcs8',
  });
}

export const vendorId = vendorIdFromDomain('updraft.example');
export const classId = classIdFromName(vendorId, 'sensor-x');
export const image = new TextEncoder().encode('Updraft test firmware image, version 1.4.0\n');
export const imageDigest = new Uint8Array(createHash('sha256').update(image).digest());
export const radioImage = new TextEncoder().encode('radio module firmware 2.0\n');
export const radioDigest = new Uint8Array(createHash('sha256').update(radioImage).digest());

export interface Ed25519Vector {
  readonly id: string;
  readonly file: string;
  readonly description: string;
  readonly expected: {
    readonly authentic: boolean;
    readonly code?: string;
    readonly components: readonly string[];
    readonly sequenceNumber: number;
  };
}

/** Builds every vector: [vector, bytes]. */
export async function buildEd25519Vectors(): Promise<[Ed25519Vector, Uint8Array][]> {
  const signer = createKeySigner(testKey());
  const single = await signEnvelope(
    createEnvelope({
      vendorId,
      classId,
      sequenceNumber: 10000400000999,
      components: [
        {
          id: '814100',
          digest: imageDigest,
          size: image.length,
          uri: 'https://updates.updraft.example/sensor-x/1.4.0.bin',
        },
      ],
      text: {
        en: {
          fields: { updateDescription: 'Release 1.4.0' },
          components: [
            {
              id: [new Uint8Array([0])],
              fields: { modelName: 'sensor-x', componentVersion: '1.4.0' },
            },
          ],
        },
      },
    }),
    signer,
  );
  const two = await signEnvelope(
    createEnvelope({
      vendorId,
      classId,
      sequenceNumber: 7,
      components: [
        {
          id: '814100',
          digest: imageDigest,
          size: image.length,
          uri: 'https://updates.updraft.example/main.bin',
          slot: 1,
        },
        {
          id: [new TextEncoder().encode('radio')],
          digest: radioDigest,
          size: radioImage.length,
          payload: radioImage,
        },
      ],
      invoke: true,
    }),
    signer,
  );
  const signature = decodeEnvelope(single).authentication.blocks[0]!.signature;
  const badSignature = new Uint8Array(single);
  badSignature[signature.byteOffset - single.byteOffset + 10]! ^= 0x01;
  const badText = new Uint8Array(single);
  badText[badText.length - 3]! ^= 0x20;
  const truncated = single.subarray(0, single.length - 20);
  const v = (
    id: string,
    description: string,
    expected: Ed25519Vector['expected'],
  ): Ed25519Vector => ({ id, file: `${id}.cbor`, description, expected });
  return [
    [
      v('ed25519-single', 'One component fetched from a URI, severable text; EdDSA (-8).', {
        authentic: true,
        components: ['814100'],
        sequenceNumber: 10000400000999,
      }),
      single,
    ],
    [
      v(
        'ed25519-two-components',
        'Main image for slot 1 from a URI and an integrated radio image; invoke; EdDSA (-8).',
        {
          authentic: true,
          components: ['814100', '8145726164696f'],
          sequenceNumber: 7,
        },
      ),
      two,
    ],
    [
      v('ed25519-neg-signature-bitflip', 'ed25519-single with one bit of the signature flipped.', {
        authentic: false,
        code: 'MANIFEST_SIGNATURE_INVALID',
        components: [],
        sequenceNumber: 0,
      }),
      badSignature,
    ],
    [
      v(
        'ed25519-neg-text-tampered',
        'ed25519-single with one byte of the severable text changed.',
        { authentic: false, code: 'MANIFEST_DIGEST_MISMATCH', components: [], sequenceNumber: 0 },
      ),
      badText,
    ],
    [
      v('ed25519-neg-truncated', 'ed25519-single without its last 20 bytes.', {
        authentic: false,
        code: 'MANIFEST_MALFORMED',
        components: [],
        sequenceNumber: 0,
      }),
      truncated,
    ],
  ];
}

async function main(): Promise<void> {
  mkdirSync(fileURLToPath(TESTDATA), { recursive: true });
  const vectors = await buildEd25519Vectors();
  for (const [vector, bytes] of vectors) writeFileSync(new URL(vector.file, TESTDATA), bytes);
  writeFileSync(new URL('ed25519-test.pub.pem', TESTDATA), exportPem(publicKeyOf(testKey())));
  const index = {
    about:
      "Updraft's own Ed25519 SUIT vectors, built by ../ed25519-test-vectors.ts with the RFC 8032 TEST 1 key (public test key).",
    vendorId: formatUuid(vendorId),
    classId: formatUuid(classId),
    publicKey: 'ed25519-test.pub.pem',
    vectors: vectors.map(([vector]) => vector),
  };
  writeFileSync(new URL('ed25519-vectors.json', TESTDATA), `${JSON.stringify(index, null, 2)}\n`);
  console.log(`wrote ${vectors.length} vectors to ${fileURLToPath(TESTDATA)}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
