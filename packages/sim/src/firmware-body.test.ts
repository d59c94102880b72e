import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { buildImage } from './build-image.js';
import { firmwareBody } from './firmware-body.js';
import { generateTestKey } from './power-cut-sweep.js';

const key = generateTestKey();
const build = (version: string, sequenceNumber: number, seed?: number) =>
  buildImage({
    version,
    sequenceNumber,
    behaviour: 'healthy',
    size: 64 * 1024,
    key: key.signing,
    ...(seed === undefined ? {} : { seed }),
  });

/** Byte positions where `a` and `b` differ. */
function differing(a: Uint8Array, b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) n++;
  return n;
}

describe('firmware-like image bodies', () => {
  it('are the same bytes for the same seed and build', () => {
    expect(firmwareBody(20_000, { seed: 3, variant: '1.0.0' })).toEqual(
      firmwareBody(20_000, { seed: 3, variant: '1.0.0' }),
    );
    // Signatures (Ed25519) are deterministic too, so a whole image is reproducible.
    expect(build('1.2.0', 3)).toEqual(build('1.2.0', 3));
  });

  it('compress like code, not like random bytes', () => {
    const image = build('1.0.0', 1);
    expect(gzipSync(image).length / image.length).toBeLessThan(0.7);
  });

  it('differ between consecutive builds in a few short places only', () => {
    const a = firmwareBody(64 * 1024, { seed: 1, variant: '1.0.0/1' });
    const b = firmwareBody(64 * 1024, { seed: 1, variant: '1.1.0/2' });
    const changed = differing(a, b);
    expect(changed).toBeGreaterThan(0);
    // Two builds' edits: at most 2 × 6 runs of at most 47 bytes.
    expect(changed).toBeLessThanOrEqual(2 * 6 * 47);
  });

  it('differ entirely between products (seeds)', () => {
    const a = firmwareBody(16 * 1024, { seed: 1, variant: '1.0.0/1' });
    const b = firmwareBody(16 * 1024, { seed: 2, variant: '1.0.0/1' });
    expect(differing(a, b)).toBeGreaterThan(a.length / 4);
  });

  it('share their prefix when a later build grows', () => {
    const small = firmwareBody(10_000, { seed: 1, variant: 'x' });
    const large = firmwareBody(30_000, { seed: 1, variant: 'x' });
    // The build's edits land at size-dependent places; outside them the blocks are the same.
    expect(differing(small, large.subarray(0, small.length))).toBeLessThanOrEqual(2 * 6 * 47);
  });
});
