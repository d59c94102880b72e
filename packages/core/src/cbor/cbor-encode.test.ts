import { describe, expect, it } from 'vitest';
import { BugError } from '../errors.js';
import { encodeCbor } from './cbor-encode.js';
import { CborMap, CborTag } from './cbor-types.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

describe('encodeCbor map order', () => {
  // {-1: 0, 4: 1}: bytewise order puts 4 (0x04) before -1 (0x20).
  const map = new Map<number, number>([
    [-1, 0],
    [4, 1],
  ]);

  it('sorts keys bytewise by default (RFC 8949 core deterministic encoding)', () => {
    expect(hex(encodeCbor(map))).toBe('a204012000');
    expect(hex(encodeCbor(new CborMap([...map])))).toBe('a204012000');
  });

  it("keeps each map's own order with mapOrder 'as-given', also inside arrays and tags", () => {
    expect(hex(encodeCbor(map, { mapOrder: 'as-given' }))).toBe('a220000401');
    expect(
      hex(encodeCbor(new CborTag(96, [new CborMap([...map])]), { mapOrder: 'as-given' })),
    ).toBe('d86081a220000401');
  });

  it("still refuses duplicate keys with mapOrder 'as-given'", () => {
    const duplicate = new CborMap([
      [1, 1],
      [1, 2],
    ]);
    expect(() => encodeCbor(duplicate, { mapOrder: 'as-given' })).toThrow(BugError);
  });
});
