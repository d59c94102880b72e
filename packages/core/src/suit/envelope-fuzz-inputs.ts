// Test support (not exported from the package): the inputs of the envelope fuzz test and of
// bench/fuzz-manifest.bench.ts — the published SUIT vectors and Updraft's own ones, mutated (bit
// flips, truncations, insertions, deletions, length-field rewrites, overwrites), mutated manifests
// re-signed so they get past the signature check, and random bytes.
import { sign } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { bstrHeader, encodeCbor } from '../cbor/cbor-encode.js';
import { CborMap, CborTag, type CborValue } from '../cbor/cbor-types.js';
import { coseToBeSigned } from '../cose/cose-sign1.js';
import { CoreError } from '../errors.js';
import { publicKeyOf } from '../keys/key-pair.js';
import { decodeEnvelope } from './decode-envelope.js';
import { classId, TESTDATA, testKey, vendorId } from './ed25519-test-vectors.js';
import { processEnvelope } from './process-envelope.js';
import { computeBstrWrappedDigest } from './suit-digest.js';
import { suitVectors } from './suit-vectors.js';
import { TrustStore } from './trust.js';
import { verifyEnvelope } from './verify-envelope.js';

const seeds: Uint8Array[] = [
  ...suitVectors.index.envelopes.map((v) => suitVectors.read(v.file)),
  ...readdirSync(TESTDATA)
    .filter((f) => f.endsWith('.cbor'))
    .map((f) => new Uint8Array(readFileSync(new URL(f, TESTDATA)))),
];

const edKey = testKey();
export const fuzzTrust = new TrustStore({
  keys: [
    { key: suitVectors.key('example-p256') },
    { key: suitVectors.key('enc-dependency-signer-p256') },
    { key: suitVectors.key('enc-hmac256') },
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

// Structure-aware inputs: well-formed, signed manifests made of random commands and parameters
// (known and unknown codes, right and wrong argument types, nested try-each / run-sequence), so
// the processor's logic — not just the decoder — meets every combination.
const parameterEntry: fc.Arbitrary<[CborValue, CborValue]> = fc.oneof(
  fc.tuple(
    fc.constantFrom(1, 2, 24),
    fc.oneof(fc.constant(vendorId), fc.constant(classId), fc.uint8Array({ maxLength: 20 })),
  ),
  fc.tuple(
    fc.constant(3),
    fc.oneof(fc.constant(encodeCbor([-16, new Uint8Array(32)])), fc.uint8Array({ maxLength: 40 })),
  ),
  fc.tuple(
    fc.constantFrom(4, 5, 12, 13, 14, 22, 26, 27, 28),
    fc.oneof(fc.nat(4), fc.boolean(), fc.integer()),
  ),
  fc.tuple(fc.constantFrom(18, 19, 23), fc.uint8Array({ maxLength: 16 })),
  fc.tuple(
    fc.constant(21),
    fc.oneof(fc.constantFrom('#x', 'https://cdn.example/a'), fc.string({ maxLength: 8 })),
  ),
  fc.tuple(fc.integer({ min: -3, max: 40 }), fc.oneof(fc.nat(), fc.uint8Array({ maxLength: 4 }))),
);

const { sequence: commandSequence } = fc.letrec<{ sequence: Uint8Array; command: CborValue[] }>(
  (tie) => ({
    command: fc.oneof(
      { depthSize: 'small' },
      fc
        .tuple(fc.constantFrom(1, 2, 3, 4, 5, 6, 14, 24, 25, 26), fc.nat(15))
        .map((c) => [...c] as CborValue[]),
      fc
        .tuple(
          fc.constant(12),
          fc.oneof(
            fc.nat(4),
            fc.constant(true),
            fc.array(fc.nat(4), { minLength: 1, maxLength: 3 }),
          ),
        )
        .map((c) => [...c] as CborValue[]),
      fc
        .tuple(
          fc.constantFrom(19, 20),
          fc.uniqueArray(parameterEntry, { minLength: 1, maxLength: 4, selector: ([k]) => k }),
        )
        .map(([code, entries]) => [code, new CborMap(entries)] as CborValue[]),
      fc
        .tuple(fc.array(tie('sequence'), { minLength: 1, maxLength: 3 }), fc.boolean())
        .map(([seqs, none]) => [15, none ? [...seqs, null] : seqs] as CborValue[]),
      tie('sequence').map((seq) => [32, seq] as CborValue[]),
      fc
        .tuple(fc.constantFrom(11, 18, 21, 22, 23, 29, 31, 33), fc.nat(15))
        .map((c) => [...c] as CborValue[]),
      fc
        .tuple(
          fc.integer({ min: -5, max: 60 }),
          fc.oneof(fc.nat(), fc.constant(null), fc.uint8Array({ maxLength: 4 })),
        )
        .map((c) => [...c] as CborValue[]),
    ),
    sequence: fc
      .array(tie('command'), { minLength: 1, maxLength: 6 })
      .map((cmds) => encodeCbor(cmds.flat())),
  }),
);

const generatedEnvelope: fc.Arbitrary<Uint8Array> = fc
  .record({
    components: fc.array(
      fc.array(fc.uint8Array({ minLength: 1, maxLength: 2 }), { minLength: 1, maxLength: 2 }),
      { maxLength: 3 },
    ),
    shared: fc.option(commandSequence, { nil: undefined }),
    members: fc.array(fc.tuple(fc.constantFrom(7, 8, 9, 16, 20), commandSequence), {
      maxLength: 3,
    }),
    sequenceNumber: fc.nat(3),
    integrated: fc.boolean(),
  })
  .map(({ components, shared, members, sequenceNumber, integrated }) => {
    const common: [CborValue, CborValue][] = [];
    if (components.length > 0) common.push([2, components]);
    if (shared) common.push([4, shared]);
    const seen = new Set<number>();
    const entries: [CborValue, CborValue][] = [
      [1, 1],
      [2, sequenceNumber],
      [3, encodeCbor(new CborMap(common))],
    ];
    for (const [key, seq] of members) {
      if (seen.has(key)) continue;
      seen.add(key);
      entries.push([key, seq]);
    }
    const extra = integrated
      ? [Buffer.concat([encodeCbor('#x'), encodeCbor(new Uint8Array([1, 2, 3]))])]
      : [];
    return signedAround(encodeCbor(new CborMap(entries)), extra);
  });

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
  { arbitrary: generatedEnvelope, weight: 4 },
  { arbitrary: fc.uint8Array({ maxLength: 300 }), weight: 1 },
  {
    arbitrary: fc
      .uint8Array({ maxLength: 200 })
      .map((b) => Buffer.concat([new Uint8Array([0xd8, 0x6b]), b])),
    weight: 1,
  },
);

/** The entry points one fuzz input runs through. */
export const FUZZ_ENTRY_POINTS = ['decodeEnvelope', 'processEnvelope', 'verifyEnvelope'] as const;
export type FuzzEntryPoint = (typeof FUZZ_ENTRY_POINTS)[number];

/** What one entry point made of an input: `'accepted'` (a result) or the CoreError's code. */
export type FuzzOutcome = 'accepted' | CoreError['code'];

/**
 * Runs the entry points; anything but a CoreError (or success) fails the property. decodeEnvelope
 * reaches the manifest decoder even for unauthenticated bytes; verifyEnvelope (a prefix of
 * processEnvelope plus the survey) runs on every third input to keep signature checks affordable.
 * Returns each entry point's outcome, so a caller can check that inputs were really run and what
 * they came to.
 */
export function exerciseEnvelope(bytes: Uint8Array): Partial<Record<FuzzEntryPoint, FuzzOutcome>> {
  const entryPoints: [FuzzEntryPoint, () => unknown][] = [
    ['decodeEnvelope', () => decodeEnvelope(bytes)],
    [
      'processEnvelope',
      () =>
        processEnvelope(bytes, {
          trust: fuzzTrust,
          device: fuzzDevices[bytes.length % 2]!,
          now: new Date(0),
        }),
    ],
  ];
  if (bytes.length % 3 === 0)
    entryPoints.push(['verifyEnvelope', () => verifyEnvelope(bytes, fuzzTrust)]);
  const outcomes: Partial<Record<FuzzEntryPoint, FuzzOutcome>> = {};
  for (const [name, fn] of entryPoints) {
    try {
      fn();
      outcomes[name] = 'accepted';
    } catch (error) {
      if (!(error instanceof CoreError)) throw error;
      outcomes[name] = error.code;
    }
  }
  return outcomes;
}
