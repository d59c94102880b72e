import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CborEncodable, encodeCbor } from '../cbor/cbor-encode.js';
import { CborTag, type CborValue } from '../cbor/cbor-types.js';
import { CORE_ERROR_CODES, CoreError } from '../errors.js';
import { suitVectors } from '../suit/suit-vectors.js';
import {
  CONTENT_ENCRYPTION_ALGS,
  decodeEncryptionInfo,
  ENCRYPTION_INFO_LIMITS,
  type EncryptionInfo,
  encodeEncryptionInfo,
  KEY_DISTRIBUTION_ALGS,
} from './index.js';

const vectors = suitVectors.index.encryptedPayloads.map((v) => suitVectors.read(v.info));
const u8 = (hex: string) => new Uint8Array(Buffer.from(hex, 'hex'));
// Hand-built structures: maps keep the order they are written in (the strict codec's own encoder,
// not a second CBOR library), so a test can build what our encoder would never produce.
const encode = (value: unknown) => encodeCbor(value as CborEncodable, { mapOrder: 'as-given' });
const tagged = (tag: number, value: unknown) => new CborTag(tag, value as CborValue);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    if (!(error instanceof CoreError)) throw error;
    return error.code;
  }
}

const gcmProtected = u8('a10101');
const kwRecipient = [
  new Uint8Array(0),
  new Map<number, unknown>([
    [1, -3],
    [4, u8('6b69642d31')],
  ]),
  new Uint8Array(24),
];

/** A COSE_Encrypt with A128GCM and one A128KW recipient, with parts replaced by `patch`. */
function build(
  patch: {
    protected?: unknown;
    unprotected?: unknown;
    ciphertext?: unknown;
    recipients?: unknown;
    tag?: number;
    length?: number;
  } = {},
): Uint8Array {
  const body = [
    'protected' in patch ? patch.protected : gcmProtected,
    'unprotected' in patch
      ? patch.unprotected
      : new Map<number, unknown>([[5, new Uint8Array(12)]]),
    'ciphertext' in patch ? patch.ciphertext : null,
    'recipients' in patch ? patch.recipients : [kwRecipient],
  ];
  return encode(tagged(patch.tag ?? 96, body.slice(0, patch.length ?? 4)));
}

/** A COSE_Encrypt whose one recipient is ECDH-ES+A128KW with an EC2 ephemeral key on curve `crv`. */
function withEphemeralKey(crv: number, x: unknown, y: unknown): Uint8Array {
  const key = new Map<number, unknown>([
    [1, 2],
    [-1, crv],
    [-2, x],
    [-3, y],
  ]);
  return build({
    recipients: [[encode(new Map([[1, -29]])), new Map([[-1, key]]), new Uint8Array(24)]],
  });
}

/** A COSE_Encrypt whose one A128KW recipient carries an extra unprotected header `label`. */
function kwWith(label: number, value: unknown): Uint8Array {
  const header = new Map<number, unknown>([
    [1, -3],
    [label, value],
  ]);
  return build({ recipients: [[new Uint8Array(0), header, new Uint8Array(24)]] });
}

describe('decodeEncryptionInfo', () => {
  it('accepts the well-formed baseline used by the negative cases below', () => {
    const info = decodeEncryptionInfo(build());
    expect(info.contentAlg).toBe('A128GCM');
    expect(info.recipients[0]?.alg).toBe('A128KW');
  });

  const malformed: [string, Uint8Array][] = [
    ['an untagged array', encode([gcmProtected, new Map(), null, [kwRecipient]])],
    ['another tag', build({ tag: 98 })],
    ['an array of 3', build({ length: 3 })],
    ['a protected header that is not a bstr', build({ protected: new Map([[1, 1]]) })],
    ['a protected header that is not a map', build({ protected: encode([1]) })],
    ['an unprotected header that is not a map', build({ unprotected: [5] })],
    ['no IV', build({ unprotected: new Map() })],
    ['an 8-byte GCM IV', build({ unprotected: new Map([[5, new Uint8Array(8)]]) })],
    [
      'a 12-byte CTR IV',
      build({
        protected: new Uint8Array(0),
        unprotected: new Map<number, unknown>([
          [1, -65534],
          [5, new Uint8Array(12)],
        ]),
      }),
    ],
    [
      'CTR with a non-empty protected header',
      build({
        protected: encode(new Map([[1, -65534]])),
        unprotected: new Map([[5, new Uint8Array(16)]]),
      }),
    ],
    [
      'the alg in both headers',
      build({
        unprotected: new Map<number, unknown>([
          [1, 1],
          [5, new Uint8Array(12)],
        ]),
      }),
    ],
    ['a text alg', build({ protected: encode(new Map([[1, 'A128GCM']])) })],
    ['ciphertext of the wrong type', build({ ciphertext: 'abc' })],
    ['no recipients', build({ recipients: [] })],
    ['recipients that are not an array', build({ recipients: new Map() })],
    ['a recipient of 2 elements', build({ recipients: [kwRecipient.slice(0, 2)] })],
    [
      'a wrapped key of 20 bytes',
      build({ recipients: [[new Uint8Array(0), new Map([[1, -3]]), new Uint8Array(20)]] }),
    ],
    [
      'an AES-KW recipient with a protected alg',
      build({ recipients: [[encode(new Map([[1, -3]])), new Map(), new Uint8Array(24)]] }),
    ],
    [
      'an ECDH recipient without ephemeral key',
      build({ recipients: [[encode(new Map([[1, -29]])), new Map(), new Uint8Array(24)]] }),
    ],
    [
      'an ECDH recipient with an unprotected alg',
      build({
        recipients: [
          [
            new Uint8Array(0),
            new Map<number, unknown>([
              [1, -29],
              [-1, new Map()],
            ]),
            new Uint8Array(24),
          ],
        ],
      }),
    ],
    [
      'a P-256 ephemeral key with a short x',
      withEphemeralKey(1, new Uint8Array(31), new Uint8Array(32)),
    ],
    ['a kid that is a number', kwWith(4, 7)],
    [
      'too many recipients',
      build({
        recipients: Array.from(
          { length: ENCRYPTION_INFO_LIMITS.maxRecipients + 1 },
          () => kwRecipient,
        ),
      }),
    ],
    [
      'duplicate map keys',
      u8(
        'd8608443a10101a2054c000000000000000000000000054c000000000000000000000000f6818340a1012258180000000000000000000000000000000000000000000000000',
      ),
    ],
    [
      'an indefinite-length array',
      u8(
        'd8609f43a10101a1054c000000000000000000000000f6818340a10122581800000000000000000000000000000000000000000000000000ff',
      ),
    ],
    ['trailing bytes', new Uint8Array([...build(), 0x00])],
    // Tag 64 (a uint8 typed array) is a byte string in disguise; tag 2 a bignum posing as an int.
    [
      'an IV wrapped in tag 64',
      build({ unprotected: new Map([[5, tagged(64, new Uint8Array(12))]]) }),
    ],
    [
      'an alg wrapped in tag 2',
      build({ protected: encode(new Map([[1, tagged(2, new Uint8Array([1]))]])) }),
    ],
    ['a float alg', build({ protected: u8('a101fa3f800000') /* {1: 1.0} */ })],
    ['a kid that is CBOR undefined', kwWith(4, undefined)],
    ['a declared 1 TB byte string', u8('d860845b000000ffffffffff')],
    ['an oversize structure', new Uint8Array(ENCRYPTION_INFO_LIMITS.maxBytes + 1)],
    ['deep nesting', u8(`d86084${'81'.repeat(100)}00`)],
    ['empty input', new Uint8Array(0)],
  ];
  // Hand-written encodings: check they fail for the reason their name gives, not by accident.
  const reasons: Record<string, RegExp> = {
    'duplicate map keys': /duplicate map key/,
    'an indefinite-length array': /indefinite length/,
    'trailing bytes': /trailing byte/,
    'a float alg': /floating-point/,
    'a declared 1 TB byte string': /byte string declares \d+ but only/,
    'deep nesting': /nesting deeper than 16/,
    'an oversize structure': /too large/,
    'too many recipients': /too many recipients/,
  };
  for (const [name, bytes] of malformed) {
    it(`rejects ${name} with MANIFEST_ENCRYPTION_INFO_MALFORMED`, () => {
      expect(codeOf(() => decodeEncryptionInfo(bytes))).toBe('MANIFEST_ENCRYPTION_INFO_MALFORMED');
      const reason = reasons[name];
      if (reason) expect(() => decodeEncryptionInfo(bytes)).toThrow(reason);
    });
  }

  const unsupported: [string, Uint8Array][] = [
    ['COSE_Encrypt0', encode(tagged(16, [gcmProtected, new Map([[5, new Uint8Array(12)]]), null]))],
    ['AES-CCM content encryption', build({ protected: encode(new Map([[1, 10]])) })],
    [
      'AES-CBC content encryption',
      build({
        protected: new Uint8Array(0),
        unprotected: new Map<number, unknown>([
          [1, -65531],
          [5, new Uint8Array(16)],
        ]),
      }),
    ],
    [
      'a crit header',
      build({
        protected: encode(
          new Map<number, unknown>([
            [1, 1],
            [2, [99]],
          ]),
        ),
      }),
    ],
    [
      'an unknown header label',
      build({
        unprotected: new Map<number, unknown>([
          [5, new Uint8Array(12)],
          [99, 1],
        ]),
      }),
    ],
    [
      'a partial IV',
      build({
        unprotected: new Map<number, unknown>([
          [5, new Uint8Array(12)],
          [6, new Uint8Array(2)],
        ]),
      }),
    ],
    [
      'direct key agreement (ECDH-ES+HKDF-256)',
      build({ recipients: [[encode(new Map([[1, -25]])), new Map(), new Uint8Array(24)]] }),
    ],
    ['a salt in the recipient', kwWith(-20, new Uint8Array(8))],
    ['a P-384 ephemeral key', withEphemeralKey(2, new Uint8Array(48), new Uint8Array(48))],
    ['a compressed P-256 ephemeral key', withEphemeralKey(1, new Uint8Array(32), true)],
  ];
  for (const [name, bytes] of unsupported) {
    it(`rejects ${name} with MANIFEST_UNSUPPORTED`, () => {
      expect(codeOf(() => decodeEncryptionInfo(bytes))).toBe('MANIFEST_UNSUPPORTED');
    });
  }

  it('rejects every truncation of every published vector with a typed error', () => {
    for (const vector of vectors) {
      for (let end = 0; end < vector.length; end++) {
        expect(codeOf(() => decodeEncryptionInfo(vector.subarray(0, end)))).toMatch(/^MANIFEST_/);
      }
    }
  });
});

describe('encodeEncryptionInfo', () => {
  const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
  const recipient = fc.oneof(
    fc.record({
      alg: fc.constantFrom('A128KW' as const, 'A256KW' as const),
      protectedHeader: fc.constant(new Uint8Array(0)),
      encryptedKey: fc.constantFrom(24, 40).chain(bytes),
      kid: bytes(5),
    }),
    fc.record({
      alg: fc.constantFrom('ECDH-ES+A128KW' as const, 'ECDH-ES+A256KW' as const),
      encryptedKey: fc.constantFrom(24, 40).chain(bytes),
      ephemeralKey: fc.oneof(
        fc.record({ crv: fc.constant('P-256' as const), x: bytes(32), y: bytes(32) }),
        fc.record({ crv: fc.constant('X25519' as const), x: bytes(32) }),
      ),
    }),
  );

  it('round-trips any structure it can express (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...CONTENT_ENCRYPTION_ALGS),
        fc.array(recipient, { minLength: 1, maxLength: 4 }),
        fc.option(bytes(20)),
        (contentAlg, recipients, ciphertext) => {
          const gcm = contentAlg.endsWith('GCM');
          const info: EncryptionInfo = {
            contentAlg,
            protectedHeader: gcm
              ? encode(new Map([[1, contentAlg === 'A128GCM' ? 1 : 3]]))
              : new Uint8Array(0),
            iv: new Uint8Array(gcm ? 12 : 16).fill(7),
            ciphertext,
            recipients: recipients.map((r) =>
              'ephemeralKey' in r
                ? {
                    ...r,
                    protectedHeader: encode(new Map([[1, r.alg === 'ECDH-ES+A128KW' ? -29 : -31]])),
                  }
                : r,
            ),
          };
          const decoded = decodeEncryptionInfo(encodeEncryptionInfo(info));
          expect(decoded.contentAlg).toBe(contentAlg);
          expect(decoded.recipients.map((r) => r.alg)).toEqual(info.recipients.map((r) => r.alg));
          expect(
            Buffer.from(encodeEncryptionInfo(decoded)).equals(
              Buffer.from(encodeEncryptionInfo(info)),
            ),
          ).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
    expect(KEY_DISTRIBUTION_ALGS.length).toBe(4);
  });
});

describe('decodeEncryptionInfo fuzz', () => {
  // Any input ends in a decoded structure or a CoreError with a listed code — never another exception.
  const check = (input: Uint8Array) => {
    try {
      decodeEncryptionInfo(input);
    } catch (error) {
      if (
        !(error instanceof CoreError) ||
        !(CORE_ERROR_CODES as readonly string[]).includes(error.code)
      ) {
        throw error;
      }
    }
  };
  let runs = 0;

  it('finds no untyped exception in random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (input) => {
        runs++;
        check(input);
      }),
      { numRuns: 2000 },
    );
  });

  it('finds no untyped exception in mutated published vectors (bit flips, cuts, inserts, overwrites)', () => {
    const mutation = fc.record({
      vector: fc.constantFrom(...vectors),
      edits: fc.array(
        fc.record({
          kind: fc.constantFrom('flip', 'cut', 'insert', 'set'),
          at: fc.nat(),
          value: fc.integer({ min: 0, max: 255 }),
        }),
        { minLength: 1, maxLength: 4 },
      ),
    });
    fc.assert(
      fc.property(mutation, ({ vector, edits }) => {
        let bytes = Array.from(vector);
        for (const edit of edits) {
          const at = edit.at % (bytes.length + 1);
          if (edit.kind === 'flip' && at < bytes.length)
            bytes[at] = (bytes[at] ?? 0) ^ (1 << (edit.value % 8));
          if (edit.kind === 'set' && at < bytes.length) bytes[at] = edit.value;
          if (edit.kind === 'cut') bytes = bytes.slice(0, at);
          if (edit.kind === 'insert') bytes.splice(at, 0, edit.value);
        }
        runs++;
        check(new Uint8Array(bytes));
      }),
      { numRuns: 4000 },
    );
    console.log(`encryption-info fuzz: ${runs} inputs, no untyped exception`);
    expect(runs).toBeGreaterThanOrEqual(6000);
  });
});
