import { BugError } from '../errors.js';
import { compareBytes } from './cbor-decode.js';
import { CborMap, CborTag, type CborValue } from './cbor-types.js';

/** What {@link encodeCbor} accepts: decoded values, plus plain JS `Map`s for convenience. */
export type CborEncodable =
  | CborValue
  | readonly CborEncodable[]
  | ReadonlyMap<CborEncodable, CborEncodable>
  | CborMap
  | CborTag;

/** How {@link encodeCbor} orders map entries. */
export interface CborEncodeOptions {
  /**
   * `'deterministic'` (the default) sorts keys bytewise by their encodings (RFC 8949 §4.2.1).
   * `'as-given'` keeps each map's own order (a `Map`'s insertion order, a `CborMap`'s encoded
   * order): for reproducing a published example that is not deterministically encoded, such as
   * the COSE headers of draft-ietf-suit-firmware-encryption (ephemeral key before kid).
   */
  readonly mapOrder?: 'deterministic' | 'as-given';
}

/**
 * Encodes with RFC 8949 core deterministic encoding (§4.2.1): shortest heads, definite lengths,
 * map keys sorted bytewise by their encodings (unless `mapOrder: 'as-given'`). The same value
 * always gives the same bytes. Non-integer numbers, duplicate keys and unsupported JS values are
 * programming errors (BugError).
 *
 * @example
 * encodeCbor(new Map([[1, 1], [2, 0]])) // a2 01 01 02 00
 */
export function encodeCbor(value: CborEncodable, options: CborEncodeOptions = {}): Uint8Array {
  const w = new Writer();
  writeValue(w, value, 0, options.mapOrder !== 'as-given');
  return w.finish();
}

/** The encoded head of a byte string of `length` bytes (the "bstr wrapper" SUIT digests cover). */
export function bstrHeader(length: number): Uint8Array {
  // Shared, never-mutated heads for short lengths: this runs on every verification.
  if (length < SHORT_HEADS.length) return SHORT_HEADS[length]!;
  if (length < 0x10000) return new Uint8Array([0x59, length >> 8, length & 0xff]);
  const w = new Writer(9);
  w.head(2, length);
  return w.finish();
}

const SHORT_HEADS: readonly Uint8Array[] = Array.from({ length: 256 }, (_, n) =>
  n < 24 ? new Uint8Array([0x40 | n]) : new Uint8Array([0x58, n]),
);

/** The encoding of `bytes` as a CBOR byte string (head + content). */
export function encodeBstr(bytes: Uint8Array): Uint8Array {
  const w = new Writer(bytes.length + 9);
  w.head(2, bytes.length);
  w.bytes(bytes);
  return w.finish();
}

class Writer {
  #buf: Uint8Array;
  #view: DataView;
  #pos = 0;

  constructor(size = 256) {
    this.#buf = new Uint8Array(size);
    this.#view = new DataView(this.#buf.buffer);
  }

  #reserve(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#pos));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  head(major: number, n: number | bigint): void {
    this.#reserve(9);
    const m = major << 5;
    if (typeof n === 'bigint') {
      if (n < 0n || n > 0xffffffffffffffffn) throw new BugError(`CBOR argument out of range: ${n}`);
      if (n <= BigInt(Number.MAX_SAFE_INTEGER)) {
        this.head(major, Number(n));
        return;
      }
      this.#buf[this.#pos++] = m | 27;
      this.#view.setBigUint64(this.#pos, n);
      this.#pos += 8;
      return;
    }
    if (n < 24) {
      this.#buf[this.#pos++] = m | n;
    } else if (n < 0x100) {
      this.#buf[this.#pos++] = m | 24;
      this.#buf[this.#pos++] = n;
    } else if (n < 0x10000) {
      this.#buf[this.#pos++] = m | 25;
      this.#view.setUint16(this.#pos, n);
      this.#pos += 2;
    } else if (n < 0x100000000) {
      this.#buf[this.#pos++] = m | 26;
      this.#view.setUint32(this.#pos, n);
      this.#pos += 4;
    } else {
      this.#buf[this.#pos++] = m | 27;
      this.#view.setBigUint64(this.#pos, BigInt(n));
      this.#pos += 8;
    }
  }

  byte(b: number): void {
    this.#reserve(1);
    this.#buf[this.#pos++] = b;
  }

  bytes(b: Uint8Array): void {
    this.#reserve(b.length);
    this.#buf.set(b, this.#pos);
    this.#pos += b.length;
  }

  finish(): Uint8Array {
    return this.#buf.slice(0, this.#pos);
  }
}

const utf8 = new TextEncoder();

function writeValue(w: Writer, v: CborEncodable, depth: number, sortKeys: boolean): void {
  if (depth > 256) throw new BugError('CBOR value nested too deeply (cycle?)');
  switch (typeof v) {
    case 'number':
      if (!Number.isSafeInteger(v)) throw new BugError(`cannot encode non-integer number ${v}`);
      if (v >= 0) w.head(0, v);
      else w.head(1, -1 - v);
      return;
    case 'bigint':
      if (v >= 0n) w.head(0, v);
      else w.head(1, -1n - v);
      return;
    case 'string': {
      const b = utf8.encode(v);
      w.head(3, b.length);
      w.bytes(b);
      return;
    }
    case 'boolean':
      w.byte(v ? 0xf5 : 0xf4);
      return;
    case 'undefined':
      w.byte(0xf7);
      return;
    default:
  }
  if (v === null) {
    w.byte(0xf6);
    return;
  }
  if (v instanceof Uint8Array) {
    w.head(2, v.length);
    w.bytes(v);
    return;
  }
  if (Array.isArray(v)) {
    w.head(4, v.length);
    for (const item of v as readonly CborEncodable[]) writeValue(w, item, depth + 1, sortKeys);
    return;
  }
  if (v instanceof CborTag) {
    w.head(6, v.tag);
    writeValue(w, v.value, depth + 1, sortKeys);
    return;
  }
  if (v instanceof CborMap || v instanceof Map) {
    const pairs: [Uint8Array, CborEncodable][] = [];
    if (v instanceof CborMap) {
      for (let i = 0; i < v.size; i++) pairs.push([encodeCbor(v.keyAt(i)), v.valueAt(i)]);
    } else {
      for (const [key, value] of v as ReadonlyMap<CborEncodable, CborEncodable>)
        pairs.push([encodeCbor(key), value]);
    }
    const sorted = sortKeys ? pairs : [...pairs];
    sorted.sort((a, b) => compareBytes(a[0], b[0]));
    for (let i = 1; i < sorted.length; i++) {
      if (compareBytes(sorted[i - 1]![0], sorted[i]![0]) === 0)
        throw new BugError('duplicate CBOR map key');
    }
    w.head(5, pairs.length);
    for (const [key, value] of pairs) {
      w.bytes(key);
      writeValue(w, value, depth + 1, sortKeys);
    }
    return;
  }
  throw new BugError(`cannot encode ${Object.prototype.toString.call(v)} as CBOR`);
}
