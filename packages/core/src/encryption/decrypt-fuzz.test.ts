import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CORE_ERROR_CODES, CoreError } from '../errors.js';
import { suitVectors } from '../suit/suit-vectors.js';
import { decryptPayload } from './index.js';

const cases = suitVectors.index.encryptedPayloads.map((v) => ({
  info: suitVectors.read(v.info),
  payload: suitVectors.read(v.payload),
  key: suitVectors.key(v.decryptWith),
}));

describe('decryptPayload fuzz', () => {
  it('answers mutated structures and payloads, with the right key, only with typed errors', () => {
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(
        fc.constantFrom(...cases),
        fc.array(
          fc.record({ at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }), inInfo: fc.boolean() }),
          {
            minLength: 1,
            maxLength: 3,
          },
        ),
        (c, flips) => {
          const info = Uint8Array.from(c.info);
          const payload = Uint8Array.from(c.payload);
          for (const f of flips) {
            const target = f.inInfo ? info : payload;
            const at = f.at % target.length;
            target[at] = (target[at] ?? 0) ^ (1 << f.bit);
          }
          let outcome = 'decrypted';
          try {
            decryptPayload(info, c.key, payload);
          } catch (error) {
            if (
              !(error instanceof CoreError) ||
              !(CORE_ERROR_CODES as readonly string[]).includes(error.code)
            ) {
              throw error;
            }
            outcome = error.code;
          }
          seen.set(outcome, (seen.get(outcome) ?? 0) + 1);
        },
      ),
      { numRuns: 2000 },
    );
    // A flip must never be blamed on the caller's (correct) key.
    expect(seen.has('MANIFEST_KEY_INVALID')).toBe(false);
    expect(seen.get('MANIFEST_DECRYPTION_FAILED')).toBeGreaterThan(0);
    expect(seen.get('MANIFEST_KEY_UNWRAP_FAILED')).toBeGreaterThan(0);
    console.log(`decrypt fuzz outcomes: ${JSON.stringify(Object.fromEntries(seen))}`);
  });
});
