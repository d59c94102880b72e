/**
 * The values the strict CBOR codec produces and accepts.
 *
 * Integers become `number` when they are safe integers and `bigint` otherwise; byte strings are
 * `Uint8Array` (views into the decoded input, not copies); maps are {@link CborMap} so that keys of
 * any CBOR type keep their identity; tags are never unwrapped silently: they are {@link CborTag}.
 * Floating-point numbers and simple values other than false/true/null/undefined are not part of the
 * SUIT/COSE data model and are rejected by the decoder.
 */
export type CborValue =
  | number
  | bigint
  | string
  | Uint8Array
  | boolean
  | null
  | undefined
  | readonly CborValue[]
  | CborMap
  | CborTag;

/** A CBOR tag (major type 6) and its content. */
export class CborTag {
  constructor(
    readonly tag: number,
    readonly value: CborValue,
  ) {}
}

/** A map key that can be looked up directly (integers and text). */
export type CborSimpleKey = number | bigint | string;

/**
 * A decoded CBOR map: entries in their encoded order, with O(1) lookup for integer and text keys.
 * Keys of other types (byte strings, arrays — SUIT text maps use component identifiers as keys)
 * are kept in `entries`.
 */
export class CborMap {
  readonly entries: readonly (readonly [CborValue, CborValue])[];
  // Built on first lookup, and only for maps large enough for a linear scan to lose.
  #index: Map<CborSimpleKey, CborValue> | undefined;

  constructor(entries: readonly (readonly [CborValue, CborValue])[]) {
    this.entries = entries;
  }

  /** Builds a map from `[key, value]` pairs (order is irrelevant for encoding: it is deterministic). */
  static of(...entries: (readonly [CborValue, CborValue])[]): CborMap {
    return new CborMap(entries);
  }

  get size(): number {
    return this.entries.length;
  }

  get(key: CborSimpleKey): CborValue | undefined {
    const entries = this.entries;
    if (entries.length <= 16) {
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i]!;
        if (e[0] === key) return e[1];
      }
      return undefined;
    }
    return this.#lookup().get(key);
  }

  has(key: CborSimpleKey): boolean {
    const entries = this.entries;
    if (entries.length <= 16) {
      for (let i = 0; i < entries.length; i++) if (entries[i]![0] === key) return true;
      return false;
    }
    return this.#lookup().has(key);
  }

  keys(): CborValue[] {
    return this.entries.map(([k]) => k);
  }

  #lookup(): Map<CborSimpleKey, CborValue> {
    if (!this.#index) {
      this.#index = new Map();
      for (const [k, v] of this.entries) {
        if (typeof k === 'number' || typeof k === 'string' || typeof k === 'bigint')
          this.#index.set(k, v);
      }
    }
    return this.#index;
  }
}

/** True for a CBOR array value. */
export function isCborArray(value: CborValue | undefined): value is readonly CborValue[] {
  return Array.isArray(value);
}

/** True for a CBOR byte string value. */
export function isBytes(value: CborValue | undefined): value is Uint8Array {
  return value instanceof Uint8Array;
}
