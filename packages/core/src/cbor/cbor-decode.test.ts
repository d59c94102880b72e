import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CoreError } from '../errors.js';
import { decodeCbor } from './cbor-decode.js';
import { type CborEncodable, encodeCbor } from './cbor-encode.js';
import { CborMap, CborTag, type CborValue } from './cbor-types.js';

const hex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s/g, ''), 'hex'));

function failure(bytes: Uint8Array, options?: Parameters<typeof decodeCbor>[1]): CoreError {
  try {
    decodeCbor(bytes, options);
  } catch (error) {
    if (error instanceof CoreError) return error;
    throw error;
  }
  throw new Error('expected a failure');
}

describe('decodeCbor', () => {
  it('decodes the data model SUIT and COSE use', () => {
    expect(decodeCbor(hex('00'))).toBe(0);
    expect(decodeCbor(hex('20'))).toBe(-1);
    expect(decodeCbor(hex('1bffffffffffffffff'))).toBe(0xffffffffffffffffn);
    expect(decodeCbor(hex('3bffffffffffffffff'))).toBe(-0x10000000000000000n);
    expect(decodeCbor(hex('6449455446'))).toBe('IETF');
    expect(decodeCbor(hex('f4'))).toBe(false);
    const v = decodeCbor(hex('d86ba20241000382f6f7')) as CborTag;
    expect(v).toBeInstanceOf(CborTag);
    expect(v.tag).toBe(107);
    const m = v.value as CborMap;
    expect(m.get(2)).toEqual(new Uint8Array([0]));
    expect(m.get(3)).toEqual([null, undefined]);
  });

  const rejects: [string, string, RegExp][] = [
    ['trailing bytes', '0000', /trailing/],
    ['a duplicate integer key', 'a2 01 00 01 01', /duplicate/],
    ['a duplicate text key', 'a2 6161 00 6161 01', /duplicate/],
    ['a duplicate array key', 'a2 814100 00 814100 01', /duplicate/],
    ['an indefinite-length byte string', '5f 4100 ff', /indefinite/],
    ['an indefinite-length array', '9f 00 ff', /indefinite/],
    ['an indefinite-length map', 'bf 00 00 ff', /indefinite/],
    ['a non-shortest integer (1 byte)', '18 05', /non-shortest/],
    ['a non-shortest integer (2 bytes)', '19 0010', /non-shortest/],
    ['a non-shortest integer (4 bytes)', '1a 00000100', /non-shortest/],
    ['a non-shortest integer (8 bytes)', '1b 0000000000010000', /non-shortest/],
    ['a non-shortest length', '58 01 00', /non-shortest/],
    ['a half-precision float', 'f9 3c00', /floating/],
    ['a double', 'fb 3ff0000000000000', /floating/],
    ['an unassigned simple value', 'f0', /simple value/],
    ['a two-byte simple value', 'f8 20', /simple value/],
    ['a stray break', 'ff', /break/],
    ['reserved additional information', '1c', /reserved/],
    ['invalid UTF-8', '62 c328', /UTF-8/],
    ['a truncated head', '19 01', /truncated/],
    ['a truncated array', '83 00 00', /declares 3/],
    ['empty input', '', /empty/],
    ['a byte string that declares 1 GB', '5a 40000000 00', /declares 1073741824/],
    ['an array that declares 2^32 items', '9a ffffffff', /declares/],
    ['a map that declares 2^63 entries', 'bb 8000000000000000', /declares/],
    ['a tag number above 2^53', 'db ffffffffffffffff 00', /tag number/],
  ];
  for (const [what, bytes, reason] of rejects) {
    it(`rejects ${what} with MANIFEST_MALFORMED`, () => {
      const error = failure(hex(bytes));
      expect(error.code).toBe('MANIFEST_MALFORMED');
      expect(error.details.reason).toMatch(reason);
      expect(typeof error.details.offset).toBe('number');
    });
  }

  it('enforces the nesting, item, size and string limits', () => {
    expect(failure(new Uint8Array(100).fill(0x81)).details.reason).toMatch(
      /nesting deeper than 32/,
    );
    expect(
      failure(hex(`99ffff${'00'.repeat(0xffff)}`), { limits: { maxItems: 1000 } }).details.reason,
    ).toMatch(/more than 1000/);
    expect(failure(new Uint8Array(2 * 1024 * 1024)).details.reason).toMatch(/exceeds the limit/);
    expect(
      failure(hex('45 0102030405'), { limits: { maxStringLength: 4 } }).details.reason,
    ).toMatch(/longer than 4/);
  });

  it('reports offsets relative to the enclosing document', () => {
    expect(failure(hex('00 00'), { baseOffset: 100 }).details.offset).toBe(101);
  });

  it('rejects out-of-order keys only when deterministic order is required', () => {
    expect(() => decodeCbor(hex('a2 02 00 01 00'))).not.toThrow();
    expect(failure(hex('a2 02 00 01 00'), { requireSortedKeys: true }).details.reason).toMatch(
      /order/,
    );
  });
});

// Arbitrary values of the strict data model.
const { value: arbitraryValue } = fc.letrec<{ value: CborEncodable; leaf: CborEncodable }>(
  (tie) => ({
    leaf: fc.oneof(
      fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
      fc
        .bigInt({ min: -(2n ** 64n), max: 2n ** 64n - 1n })
        .filter((b) => b < BigInt(Number.MIN_SAFE_INTEGER) || b > BigInt(Number.MAX_SAFE_INTEGER)),
      fc.string({ unit: 'grapheme' }),
      fc.uint8Array({ maxLength: 40 }),
      fc.constantFrom(true, false, null, undefined),
    ),
    value: fc.oneof(
      { depthSize: 'small' },
      tie('leaf'),
      fc.array(tie('value'), { maxLength: 5 }),
      fc
        .uniqueArray(
          fc.tuple(
            fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.string({ maxLength: 6 })),
            tie('value'),
          ),
          {
            selector: ([k]) => `${typeof k}:${k}`,
            maxLength: 5,
          },
        )
        .map((entries) => new CborMap(entries as [CborValue, CborValue][])),
      fc
        .tuple(fc.integer({ min: 0, max: 2 ** 32 }), tie('value'))
        .map(([t, v]) => new CborTag(t, v as CborValue)),
    ),
  }),
);

describe('encodeCbor / decodeCbor round trip', () => {
  it('decodes what it encodes, and re-encodes to the same bytes (deterministic)', () => {
    fc.assert(
      fc.property(arbitraryValue, (value) => {
        const bytes = encodeCbor(value);
        const decoded = decodeCbor(bytes, { requireSortedKeys: true });
        expect(Buffer.from(encodeCbor(decoded)).equals(bytes)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('sorts map keys bytewise whatever their insertion order', () => {
    const a = encodeCbor(
      new Map<CborEncodable, CborEncodable>([
        ['a', 1],
        [10, 2],
        [-1, 3],
        [1, 4],
      ]),
    );
    expect(Buffer.from(a).toString('hex')).toBe('a401040a022003616101');
  });
});
