import { decodeCbor } from '../cbor/cbor-decode.js';
import { encodeCbor } from '../cbor/cbor-encode.js';
import { CoreError } from '../errors.js';
import type { ComponentId } from './suit-model.js';

/**
 * The text form of a component identifier used across Updraft's APIs (docs/device-api.md):
 * lowercase hex of the CBOR encoding of the SUIT_Component_Identifier array.
 * `[h'00']` → "814100"; `[h'00', h'01']` → "8241004101".
 */
export function componentIdToHex(id: ComponentId): string {
  return Buffer.from(encodeCbor(id as Uint8Array[])).toString('hex');
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
