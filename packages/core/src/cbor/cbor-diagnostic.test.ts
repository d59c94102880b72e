import { describe, expect, it } from 'vitest';
import { decodeCbor } from './cbor-decode.js';
import { toDiagnostic } from './cbor-diagnostic.js';
import { encodeCbor } from './cbor-encode.js';
import { CborMap, CborTag } from './cbor-types.js';

describe('toDiagnostic', () => {
  it('prints RFC 8949 diagnostic notation, expanding embedded CBOR', () => {
    const inner = encodeCbor(CborMap.of([1, -7]));
    const value = decodeCbor(
      encodeCbor(
        new CborTag(18, [
          inner,
          new CborMap([]),
          null,
          new Uint8Array([0xab]),
          'x',
          true,
          undefined,
        ]),
      ),
    );
    expect(toDiagnostic(value, { indent: 0 })).toBe(
      `18([ << { 1: -7 } >>, {}, null, h'ab', "x", true, undefined ])`,
    );
    expect(toDiagnostic(value, { indent: 0, expandEmbedded: false })).toContain(`h'a10126'`);
  });
});
