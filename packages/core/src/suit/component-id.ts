import { decodeCbor } from '../cbor/cbor-decode.js';
import { CoreError } from '../errors.js';
import type { ComponentId } from './suit-model.js';

/**
 * The text form of a component identifier used across Updraft's APIs (docs/device-api.md):
 * lowercase hex of the CBOR encoding of the SUIT_Component_Identifier array.
 * `[h'00']` → "814100"; `[h'00', h'01']` → "8241004101".
 */
export function componentIdToHex(id: ComponentId): string {
  let out = headHex(4, id.length);
  for (const part of id) {
    out += headHex(2, part.length);
    for (let i = 0; i < part.length; i++) out += HEX[part[i]!]!;
  }
  return out;
}

const HEX: readonly string[] = Array.from({ length: 256 }, (_, b) =>
  b.toString(16).padStart(2, '0'),
);

function headHex(major: number, n: number): string {
  const m = major << 5;
  if (n < 24) return HEX[m | n]!;
  if (n < 0x100) return HEX[m | 24]! + HEX[n]!;
  if (n < 0x10000) return HEX[m | 25]! + n.toString(16).padStart(4, '0');
  return HEX[m | 26]! + n.toString(16).padStart(8, '0');
}

/** Inverse of {@link componentIdToHex}; throws MANIFEST_MALFORMED for text that is not one. */
export function componentIdFromHex(hex: string): ComponentId {
  if (!/^([0-9a-f]{2})+$/.test(hex)) {
    throw new CoreError(
      'MANIFEST_MALFORMED',
      `not a component id: ${JSON.stringify(hex.slice(0, 64))}`,
      {
        details: { reason: 'component id is not lowercase hex' },
      },
    );
  }
  const value = decodeCbor(Buffer.from(hex, 'hex'), {
    context: 'component id',
    limits: { maxDepth: 2 },
  });
  if (!Array.isArray(value) || !value.every((p) => p instanceof Uint8Array)) {
    throw new CoreError('MANIFEST_MALFORMED', 'a component id is a CBOR array of byte strings', {
      details: { reason: 'component id shape' },
    });
  }
  return value as Uint8Array[];
}

/** Equality of two component identifiers. */
export function componentIdEquals(a: ComponentId, b: ComponentId): boolean {
  return a.length === b.length && a.every((part, i) => Buffer.compare(part, b[i]!) === 0);
}
