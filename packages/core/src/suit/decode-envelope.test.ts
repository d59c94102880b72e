import { describe, expect, it } from 'vitest';
import { type CborEncodable, encodeCbor } from '../cbor/cbor-encode.js';
import { CborMap, CborTag } from '../cbor/cbor-types.js';
import { CoreError } from '../errors.js';
import { decodeEnvelope } from './decode-envelope.js';

const digest = encodeCbor([-16, new Uint8Array(32)]);
const auth = encodeCbor([digest]);
const common = encodeCbor(CborMap.of([2, [[new Uint8Array([0])]]]));

function manifest(...extra: [CborEncodable, CborEncodable][]): Uint8Array {
  const base = new Map<CborEncodable, CborEncodable>([
    [1, 1],
    [2, 3],
    [3, common],
  ]);
  for (const [k, v] of extra) base.set(k, v);
  return encodeCbor(base);
}

function envelope(members: [CborEncodable, CborEncodable][], tag: number | null = 107): Uint8Array {
  const map = new Map<CborEncodable, CborEncodable>(members);
  return encodeCbor(tag === null ? map : new CborTag(tag, map as unknown as CborMap));
}

function failure(bytes: Uint8Array): CoreError {
  try {
    decodeEnvelope(bytes);
  } catch (error) {
    if (error instanceof CoreError) return error;
    throw error;
  }
  throw new Error('expected a failure');
}

describe('decodeEnvelope', () => {
  it('decodes a minimal envelope, tagged or not', () => {
    for (const tag of [107, null]) {
      const e = decodeEnvelope(
        envelope(
          [
            [2, auth],
            [3, manifest()],
          ],
          tag,
        ),
      );
      expect(e.tagged).toBe(tag !== null);
      expect(e.manifest.sequenceNumber).toBe(3);
      expect(e.authentication.blocks).toEqual([]);
    }
  });

  const malformed: [string, Uint8Array][] = [
    [
      'another tag',
      envelope(
        [
          [2, auth],
          [3, manifest()],
        ],
        108,
      ),
    ],
    ['an envelope that is an array', encodeCbor([auth, manifest()])],
    ['no authentication wrapper', envelope([[3, manifest()]])],
    ['no manifest', envelope([[2, auth]])],
    [
      'a manifest that is not a byte string',
      envelope([
        [2, auth],
        [3, 5],
      ]),
    ],
    [
      'an empty authentication wrapper',
      envelope([
        [2, encodeCbor([])],
        [3, manifest()],
      ]),
    ],
    [
      'a SUIT_Digest with three elements',
      envelope([
        [2, encodeCbor([encodeCbor([-16, new Uint8Array(32), 1])])],
        [3, manifest()],
      ]),
    ],
    [
      'an authentication block that is not COSE',
      envelope([
        [2, encodeCbor([digest, encodeCbor([1, 2, 3, 4])])],
        [3, manifest()],
      ]),
    ],
    [
      'a negative sequence number',
      envelope([
        [2, auth],
        [3, manifest([2, -1])],
      ]),
    ],
    [
      'a component id that is not an array of byte strings',
      envelope([
        [2, auth],
        [3, manifest([3, encodeCbor(CborMap.of([2, [[1]]]))])],
      ]),
    ],
    [
      'a command sequence of odd length',
      envelope([
        [2, auth],
        [3, manifest([7, encodeCbor([3, 15, 1])])],
      ]),
    ],
    [
      'a parameter of the wrong type',
      envelope([
        [2, auth],
        [3, manifest([20, encodeCbor([20, CborMap.of([21, 7]), 21, 15])])],
      ]),
    ],
    [
      'a vendor-id that is not 16 bytes',
      envelope([
        [2, auth],
        [3, manifest([20, encodeCbor([20, CborMap.of([1, new Uint8Array(4)]), 1, 15])])],
      ]),
    ],
    [
      'a severed member the manifest has no digest for',
      envelope([
        [2, auth],
        [3, manifest()],
        [20, encodeCbor([1, 15])],
      ]),
    ],
    [
      'trailing bytes inside the manifest',
      envelope([
        [2, auth],
        [3, Buffer.concat([manifest(), new Uint8Array([0])])],
      ]),
    ],
  ];
  for (const [what, bytes] of malformed) {
    it(`rejects ${what} with MANIFEST_MALFORMED`, () => {
      const error = failure(bytes);
      expect(error.code).toBe('MANIFEST_MALFORMED');
      expect(typeof error.details.reason).toBe('string');
    });
  }

  const unsupported: [string, Uint8Array][] = [
    [
      'manifest version 2',
      envelope([
        [2, auth],
        [3, manifest([1, 2])],
      ]),
    ],
    [
      'an unknown manifest member',
      envelope([
        [2, auth],
        [3, manifest([99, 1])],
      ]),
    ],
    [
      'a delegation chain',
      envelope([
        [1, encodeCbor([])],
        [2, auth],
        [3, manifest()],
      ]),
    ],
    [
      'an unknown envelope member',
      envelope([
        [2, auth],
        [3, manifest()],
        [10, new Uint8Array(0)],
      ]),
    ],
    [
      'a sequence number above 2^53',
      envelope([
        [2, auth],
        [3, manifest([2, 2n ** 60n])],
      ]),
    ],
    [
      'a COSE_Sign (multi-signer) block',
      envelope([
        [
          2,
          encodeCbor([
            digest,
            encodeCbor(new CborTag(98, [new Uint8Array(0), new CborMap([]), null, []])),
          ]),
        ],
        [3, manifest()],
      ]),
    ],
    [
      'a critical COSE header',
      envelope([
        [
          2,
          encodeCbor([
            digest,
            encodeCbor(
              new CborTag(18, [
                encodeCbor(CborMap.of([1, -8], [2, [99]])),
                new CborMap([]),
                null,
                new Uint8Array(64),
              ]),
            ),
          ]),
        ],
        [3, manifest()],
      ]),
    ],
  ];
  for (const [what, bytes] of unsupported) {
    it(`rejects ${what} with MANIFEST_UNSUPPORTED`, () => {
      expect(failure(bytes).code).toBe('MANIFEST_UNSUPPORTED');
    });
  }

  it('reports where in the envelope a nested item is malformed', () => {
    const bad = manifest([7, encodeCbor([3, 15, 1])]);
    const bytes = envelope([
      [2, auth],
      [3, bad],
    ]);
    const error = failure(bytes);
    const at = Buffer.from(bytes).indexOf(Buffer.from(bad));
    expect(error.details.offset).toBeGreaterThan(at);
  });
});
