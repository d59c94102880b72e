import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeCbor } from '../cbor/cbor-encode.js';
import { CoreError } from '../errors.js';
import { componentIdEquals, componentIdFromHex, componentIdToHex } from './component-id.js';

const bytes = (...b: number[]) => new Uint8Array(b);

describe('component id hex form', () => {
  it('is the lowercase hex of the CBOR encoding of the identifier', () => {
    expect(componentIdToHex([bytes(0)])).toBe('814100');
    expect(componentIdToHex([bytes(0), bytes(1)])).toBe('8241004101');
    expect(componentIdToHex([new TextEncoder().encode('radio')])).toBe('8145726164696f');
    expect(componentIdToHex([])).toBe('80');
  });

  it('round-trips and agrees with the CBOR encoder (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 30 }), (id) => {
        const hex = componentIdToHex(id);
        expect(hex).toBe(Buffer.from(encodeCbor(id)).toString('hex'));
        expect(componentIdEquals(componentIdFromHex(hex), id)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects text that is not a component id', () => {
    for (const bad of ['', '8', '81410', 'ZZ', '814100ff', '8100', 'a0', '8180']) {
      expect(() => componentIdFromHex(bad), bad).toThrow(CoreError);
    }
  });
});
