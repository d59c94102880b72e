// Test support (not exported from the package): the inputs of the envelope fuzz test and of
// bench/fuzz-manifest.bench.ts — the shared SUIT vectors and Updraft's own ones, mutated (bit
// flips, truncations, insertions, deletions, length-field rewrites, overwrites), mutated manifests
// re-signed so they get past the signature check, and random bytes.
import { createPublicKey, createSecretKey, sign } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { bstrHeader, encodeCbor } from '../cbor/cbor-encode.js';
import { CborMap, CborTag } from '../cbor/cbor-types.js';
import { coseToBeSigned } from '../cose/cose-sign1.js';
import { CoreError } from '../errors.js';
import { publicKeyOf } from '../keys/key-pair.js';
import { decodeEnvelope } from './decode-envelope.js';
import { classId, TESTDATA, testKey, vendorId } from './ed25519-test-vectors.js';
import { processEnvelope } from './process-envelope.js';
import { computeBstrWrappedDigest } from './suit-digest.js';
import { TrustStore } from './trust.js';
import { verifyEnvelope } from './verify-envelope.js';

const sharedDir = new URL('../../../../../shared/vectors/suit/', import.meta.url);
const seeds: Uint8Array[] = [
  ...readdirSync(sharedDir)
    .filter((f) => f.endsWith('.cbor') && !f.startsWith('enc-info'))
    .map((f) => new Uint8Array(readFileSync(new URL(f, sharedDir)))),
  ...readdirSync(TESTDATA)
    .filter((f) => f.endsWith('.cbor'))
    .map((f) => new Uint8Array(readFileSync(new URL(f, TESTDATA)))),
];

const edKey = testKey();
export const fuzzTrust = new TrustStore({
  keys: [
    { key: createPublicKey(readFileSync(new URL('keys/suit-example-p256-pub.pem', sharedDir))) },
    {
      key: createPublicKey(
        readFileSync(new URL('keys/suit-enc-dependency-outer-signer-p256-pub.pem', sharedDir)),
      ),
    },
    { key: createSecretKey(Buffer.alloc(32, 0x61)) },
    { key: publicKeyOf(edKey) },
  ],
});
export const fuzzDevices = [
  {
    vendorId,
    classId,
    components: [{ id: '814100', sequenceNumber: 1, slot: 1 }, { id: '8145726164696f' }],
  },
  {
    vendorId: 'fa6b4a53-d5ad-5fdf-be9d-e663e4d41ffe',
    classId: '1492af14-2569-5e48-bf42-9b2d51f2ab45',
    components: [{ id: '814100', slot: 0 }, { id: '814101' }, { id: '814102' }],
  },
];

/** Manifests of the seeds, to mutate and re-sign: these reach the manifest decoder and processor. */
export const fuzzManifests = seeds.flatMap((s) => {
  try {
    return [decodeEnvelope(s).manifestBytes];
  } catch {
    return [];
  }
});

/** A valid Ed25519-signed envelope around arbitrary manifest bytes (built without the strict encoder's checks). */
export function signedAround(manifest: Uint8Array, extra: Uint8Array[] = []): Uint8Array {
  const d = computeBstrWrappedDigest(manifest);
  const digestBytes = encodeCbor([d.algorithm, d.bytes]);
  const protectedBytes = encodeCbor(CborMap.of([1, -8]));
  const signature = sign(null, coseToBeSigned('Signature1', protectedBytes, digestBytes), edKey);
  const block = encodeCbor(
    new CborTag(18, [protectedBytes, new CborMap([]), null, new Uint8Array(signature)]),
  );
  const head = encodeCbor(new CborTag(107, CborMap.of([2, encodeCbor([digestBytes, block])])));
  // Splice the manifest member in by hand (key 3), plus any extra raw members.
  const mapHeadAt = 2; // d8 6b
  const members = 1 + 1 + extra.length;
  const rest = head.subarray(mapHeadAt + 1);
  return Buffer.concat([
    head.subarray(0, mapHeadAt),
    new Uint8Array([0xa0 | members]),
    rest,
    new Uint8Array([0x03]),
    bstrHeader(manifest.length),
    manifest,
    ...extra,
  ]);
}

type Mutation = (input: Uint8Array) => Uint8Array;
const at = (input: Uint8Array, r: number) => (input.length === 0 ? 0 : r % input.length);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })).map(
    ([r, bit]): Mutation =>
      (b) => {
        const out = new Uint8Array(b);
        if (out.length) out[at(out, r)]! ^= 1 << bit;
        return out;
      },
  ),
  fc.nat().map(
    (r): Mutation =>
      (b) =>
        b.subarray(0, at(b, r)),
  ),
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 })).map(
    ([r, ins]): Mutation =>
      (b) => {
        const i = at(b, r);
        return Buffer.concat([b.subarray(0, i), ins, b.subarray(i)]);
      },
  ),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 16 })).map(
    ([r, n]): Mutation =>
      (b) => {
        const i = at(b, r);
        return Buffer.concat([b.subarray(0, i), b.subarray(i + n)]);
      },
  ),
  // Length fields: rewrite the additional information of a string/array/map/tag head.
  fc
    .tuple(fc.nat(), fc.integer({ min: 0, max: 31 }), fc.uint8Array({ minLength: 0, maxLength: 8 }))
    .map(
      ([r, ai, tail]): Mutation =>
        (b) => {
          const heads: number[] = [];
          for (let i = 0; i < b.length; i++) if (b[i]! >> 5 >= 2 && b[i]! >> 5 <= 6) heads.push(i);
          if (heads.length === 0) return b;
          const i = heads[r % heads.length]!;
          const out = new Uint8Array(b);
          out[i] = (out[i]! & 0xe0) | ai;
          out.set(tail.subarray(0, Math.max(0, out.length - i - 1)), i + 1);
          return out;
        },
    ),
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 32 })).map(
    ([r, bytes]): Mutation =>
      (b) => {
        const out = new Uint8Array(b);
        out.set(bytes.subarray(0, Math.max(0, out.length - at(b, r))), at(b, r));
        return out;
      },
  ),
);

export const envelopeFuzzInput: fc.Arbitrary<Uint8Array> = fc.oneof(
  {
    arbitrary: fc
      .tuple(fc.constantFrom(...seeds), fc.array(mutation, { minLength: 1, maxLength: 4 }))
      .map(([s, ms]) => ms.reduce((b, m) => m(b), s)),
    weight: 6,
  },
  {
    arbitrary: fc
      .tuple(fc.constantFrom(...fuzzManifests), fc.array(mutation, { minLength: 1, maxLength: 3 }))
      .map(([m, ms]) => signedAround(ms.reduce((b, f) => f(b), m))),
    weight: 4,
  },
  { arbitrary: fc.uint8Array({ maxLength: 300 }), weight: 1 },
  {
    arbitrary: fc
      .uint8Array({ maxLength: 200 })
      .map((b) => Buffer.concat([new Uint8Array([0xd8, 0x6b]), b])),
    weight: 1,
  },
);

/**
 * Runs the entry points; anything but a CoreError (or success) fails the property. decodeEnvelope
 * reaches the manifest decoder even for unauthenticated bytes; verifyEnvelope (a prefix of
 * processEnvelope plus the survey) runs on every third input to keep signature checks affordable.
 */
export function exerciseEnvelope(bytes: Uint8Array): void {
  const entryPoints: (() => unknown)[] = [
    () => decodeEnvelope(bytes),
    () =>
      processEnvelope(bytes, {
        trust: fuzzTrust,
        device: fuzzDevices[bytes.length % 2]!,
        now: new Date(0),
      }),
  ];
  if (bytes.length % 3 === 0) entryPoints.push(() => verifyEnvelope(bytes, fuzzTrust));
  for (const fn of entryPoints) {
    try {
      fn();
    } catch (error) {
      if (!(error instanceof CoreError)) throw error;
    }
  }
}
