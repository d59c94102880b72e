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

const FROM_FLAT: readonly (readonly [CborValue, CborValue])[] = [];
// fromFlat hands its array to the constructor through this slot (decoding is synchronous, so
// nothing can interleave), which keeps the public constructor's signature plain.
let pendingFlat: CborValue[] | undefined;

/**
 * A decoded CBOR map: entries in their encoded order, with lookup for integer and text keys.
 * Keys of other types (byte strings, arrays — SUIT text maps use component identifiers as keys)
 * are reachable through `entries` / `keyAt`. Stored flat (k0, v0, k1, v1, …): decoding makes one
 * array per map instead of one per entry.
 */
export class CborMap {
  readonly #flat: readonly CborValue[];
  #entries: readonly (readonly [CborValue, CborValue])[] | undefined;
  // Built on first lookup, and only for maps large enough for a linear scan to lose.
  #index: Map<CborSimpleKey, CborValue> | undefined;

  constructor(entries: readonly (readonly [CborValue, CborValue])[]) {
    if (entries === FROM_FLAT) {
      this.#flat = pendingFlat!;
      pendingFlat = undefined;
      return;
    }
    const flat: CborValue[] = new Array(entries.length * 2);
    for (let i = 0; i < entries.length; i++) {
      flat[2 * i] = entries[i]![0];
      flat[2 * i + 1] = entries[i]![1];
    }
    this.#flat = flat;
    this.#entries = entries;
  }

  /** Builds a map from `[key, value]` pairs (order is irrelevant for encoding: it is deterministic). */
  static of(...entries: (readonly [CborValue, CborValue])[]): CborMap {
    return new CborMap(entries);
  }

  /** A map over a flat `k0, v0, k1, v1, …` array (taken, not copied). */
  static fromFlat(flat: CborValue[]): CborMap {
    pendingFlat = flat;
    return new CborMap(FROM_FLAT);
  }

  get size(): number {
    return this.#flat.length >> 1;
  }

  /** The key of entry `i` (encoded order). */
  keyAt(i: number): CborValue {
    return this.#flat[2 * i];
  }

  /** The value of entry `i` (encoded order). */
  valueAt(i: number): CborValue {
    return this.#flat[2 * i + 1];
  }

  /** `[key, value]` pairs in encoded order. */
  get entries(): readonly (readonly [CborValue, CborValue])[] {
    if (!this.#entries) {
      const out: [CborValue, CborValue][] = [];
      for (let i = 0; i < this.#flat.length; i += 2) out.push([this.#flat[i], this.#flat[i + 1]]);
      this.#entries = out;
    }
    return this.#entries;
  }

  get(key: CborSimpleKey): CborValue | undefined {
    const flat = this.#flat;
    if (flat.length <= 32) {
      for (let i = 0; i < flat.length; i += 2) if (flat[i] === key) return flat[i + 1];
      return undefined;
    }
    return this.#lookup().get(key);
  }

  has(key: CborSimpleKey): boolean {
    const flat = this.#flat;
    if (flat.length <= 32) {
      for (let i = 0; i < flat.length; i += 2) if (flat[i] === key) return true;
      return false;
    }
    return this.#lookup().has(key);
  }

  keys(): CborValue[] {
    const out: CborValue[] = [];
    for (let i = 0; i < this.#flat.length; i += 2) out.push(this.#flat[i]);
    return out;
  }

  #lookup(): Map<CborSimpleKey, CborValue> {
    if (!this.#index) {
      this.#index = new Map();
      for (let i = 0; i < this.#flat.length; i += 2) {
        const k = this.#flat[i];
        if (typeof k === 'number' || typeof k === 'string' || typeof k === 'bigint')
          this.#index.set(k, this.#flat[i + 1]);
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
