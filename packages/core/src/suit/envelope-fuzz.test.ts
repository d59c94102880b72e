import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeCbor } from '../cbor/cbor-encode.js';
import { CborMap } from '../cbor/cbor-types.js';
import { CoreError } from '../errors.js';
import {
  envelopeFuzzInput,
  exerciseEnvelope,
  FUZZ_ENTRY_POINTS,
  type FuzzEntryPoint,
  fuzzDevices,
  fuzzManifests,
  fuzzTrust,
  signedAround,
} from './envelope-fuzz-inputs.js';
import { processEnvelope } from './process-envelope.js';
import { verifyEnvelope } from './verify-envelope.js';

export const FUZZ_RUNS = 25_000;

describe('envelope fuzz', () => {
  it(`runs ${FUZZ_RUNS} random and mutated envelopes each to a result or a typed error, reaching past every check`, () => {
    // Per entry point, how many inputs came to each outcome ('accepted' or a CoreError code). An
    // untyped exception fails the property at once (exerciseEnvelope rethrows it).
    const tally = new Map<FuzzEntryPoint, Map<string, number>>(
      FUZZ_ENTRY_POINTS.map((name) => [name, new Map()]),
    );
    let inputs = 0;
    let verifiable = 0;
    fc.assert(
      fc.property(envelopeFuzzInput, (bytes) => {
        inputs++;
        if (bytes.length % 3 === 0) verifiable++;
        for (const [name, outcome] of Object.entries(exerciseEnvelope(bytes))) {
          const counts = tally.get(name as FuzzEntryPoint)!;
          counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
        }
      }),
      { numRuns: FUZZ_RUNS, seed: Number(process.env.FUZZ_SEED ?? 20261122) },
    );
    const total = (name: FuzzEntryPoint) =>
      [...tally.get(name)!.values()].reduce((a, b) => a + b, 0);
    const seen = (name: FuzzEntryPoint) => [...tally.get(name)!.keys()];
    console.log(
      `envelope fuzz: ${inputs} inputs`,
      JSON.stringify(Object.fromEntries([...tally].map(([k, v]) => [k, Object.fromEntries(v)]))),
    );

    // Every input went through every entry point it was meant for, and each came to an outcome.
    expect(inputs).toBe(FUZZ_RUNS);
    expect(total('decodeEnvelope')).toBe(FUZZ_RUNS);
    expect(total('processEnvelope')).toBe(FUZZ_RUNS);
    expect(total('verifyEnvelope')).toBe(verifiable);
    // The inputs reach past each check: some are refused by the decoder, some by the signature
    // check, some only by the digest, the device identity or the command interpreter, and some
    // are accepted — a generator that only produced garbage would fail here.
    for (const name of FUZZ_ENTRY_POINTS) {
      expect(seen(name)).toContain('accepted');
      expect(seen(name)).toContain('MANIFEST_MALFORMED');
    }
    expect(seen('processEnvelope')).toEqual(
      expect.arrayContaining([
        'MANIFEST_SIGNATURE_INVALID',
        'MANIFEST_DIGEST_MISMATCH',
        'MANIFEST_UNSUPPORTED',
        'MANIFEST_VENDOR_MISMATCH',
        'MANIFEST_MEMBER_MISSING',
      ]),
    );
    expect(seen('verifyEnvelope')).toEqual(
      expect.arrayContaining(['MANIFEST_SIGNATURE_INVALID', 'MANIFEST_DIGEST_MISMATCH']),
    );
  }, 120_000);

  it('the re-signed mutations reach the manifest decoder', () => {
    expect(() => verifyEnvelope(signedAround(fuzzManifests[0]!), fuzzTrust)).not.toThrow();
  });

  it('rejects an envelope declaring 1 GB at its head, before allocating or reading it', () => {
    const before = process.memoryUsage().arrayBuffers;
    const bytes = new Uint8Array([0xd8, 0x6b, 0xa2, 0x02, 0x5a, 0x40, 0x00, 0x00, 0x00, 0x00]);
    // Bounded by work, not time: the decoder stops at the byte string's head (offset 4), having
    // compared the declared length with what remains.
    expect(() => processEnvelope(bytes, { trust: fuzzTrust, device: fuzzDevices[0]! })).toThrow(
      expect.objectContaining({
        code: 'MANIFEST_MALFORMED',
        details: expect.objectContaining({
          offset: 4,
          reason: 'byte string declares 1073741824 but only 1 byte(s) remain',
        }),
      }),
    );
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
  });

  it('rejects an envelope over the size limit without decoding it', () => {
    const big = new Uint8Array(2 * 1024 * 1024);
    big.set([0xd8, 0x6b, 0xa2]);
    let error: unknown;
    try {
      verifyEnvelope(big, fuzzTrust);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CoreError);
    expect((error as CoreError).details.reason).toMatch(/exceeds the limit/);
  });

  it('handles a signed manifest without components (found by the structure-aware inputs)', () => {
    const shared = encodeCbor([20, CborMap.of([1, new Uint8Array(16)]), 1, 15]);
    const manifest = encodeCbor(
      new CborMap([
        [1, 1],
        [2, 1],
        [3, encodeCbor(CborMap.of([4, shared]))],
        [20, encodeCbor([21, 15])],
      ]),
    );
    expect(() =>
      processEnvelope(signedAround(manifest), { trust: fuzzTrust, device: fuzzDevices[0]! }),
    ).toThrow(expect.objectContaining({ code: 'MANIFEST_VENDOR_MISMATCH' }));
    expect(verifyEnvelope(signedAround(manifest), fuzzTrust).components).toEqual([]);
  });

  it('rejects command sequences nested deeper than the limit', () => {
    let seq = encodeCbor([14, 0]);
    for (let i = 0; i < 12; i++) seq = encodeCbor([32, seq]);
    const manifest = encodeCbor(
      new CborMap([
        [1, 1],
        [2, 1],
        [3, encodeCbor(CborMap.of([2, [[new Uint8Array([0])]]]))],
        [7, seq],
      ]),
    );
    expect(() => verifyEnvelope(signedAround(manifest), fuzzTrust)).toThrow(/nested deeper than 8/);
  });
});
