import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeCbor } from '../cbor/cbor-encode.js';
import { CborMap } from '../cbor/cbor-types.js';
import { CoreError } from '../errors.js';
import {
  envelopeFuzzInput,
  exerciseEnvelope,
  fuzzDevices,
  fuzzManifests,
  fuzzTrust,
  signedAround,
} from './envelope-fuzz-inputs.js';
import { processEnvelope } from './process-envelope.js';
import { verifyEnvelope } from './verify-envelope.js';

export const FUZZ_RUNS = 25_000;

describe('envelope fuzz', () => {
  it(`finds no untyped exception in ${FUZZ_RUNS} random and mutated envelopes`, () => {
    let count = 0;
    const started = performance.now();
    fc.assert(
      fc.property(envelopeFuzzInput, (bytes) => {
        count++;
        exerciseEnvelope(bytes);
      }),
      { numRuns: FUZZ_RUNS, seed: Number(process.env.FUZZ_SEED ?? 20261122) },
    );
    console.log(
      `envelope fuzz: ${count} inputs, no untyped exception, ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    expect(count).toBeGreaterThanOrEqual(20_000);
  }, 120_000);

  it('the re-signed mutations reach the manifest decoder', () => {
    expect(() => verifyEnvelope(signedAround(fuzzManifests[0]!), fuzzTrust)).not.toThrow();
  });

  it('rejects an envelope declaring 1 GB before allocating it', () => {
    const before = process.memoryUsage().arrayBuffers;
    const bytes = new Uint8Array([0xd8, 0x6b, 0xa2, 0x02, 0x5a, 0x40, 0x00, 0x00, 0x00, 0x00]);
    const t = performance.now();
    expect(() => processEnvelope(bytes, { trust: fuzzTrust, device: fuzzDevices[0]! })).toThrow(
      CoreError,
    );
    expect(performance.now() - t).toBeLessThan(50);
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
