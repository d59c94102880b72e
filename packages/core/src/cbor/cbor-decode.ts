import { CoreError } from '../errors.js';
import { CborMap, type CborSimpleKey, CborTag, type CborValue } from './cbor-types.js';

/**
 * Resource limits of the strict decoder. Every limit is checked before the memory it guards is
 * allocated: a byte string that declares 1 GB in a 300-byte input fails on its header.
 */
export interface CborLimits {
  /** Largest input accepted, in bytes. */
  readonly maxBytes: number;
  /** Deepest nesting of arrays, maps and tags. */
  readonly maxDepth: number;
  /** Most data items (of any kind) in one input. */
  readonly maxItems: number;
  /** Longest byte or text string, in bytes. */
  readonly maxStringLength: number;
}

/** Defaults sized for SUIT envelopes (documented in docs/manifest-format.md). */
export const DEFAULT_CBOR_LIMITS: CborLimits = Object.freeze({
  maxBytes: 1024 * 1024, // 1 MiB
  maxDepth: 32,
  maxItems: 65_536,
  maxStringLength: 1024 * 1024, // 1 MiB
});

export interface CborDecodeOptions {
  readonly limits?: Partial<CborLimits>;
  /** Require map keys in RFC 8949 core deterministic order (bytewise lexicographic). Default false. */
  readonly requireSortedKeys?: boolean;
  /** Added to every offset in error details (for inputs nested in a larger document). */
  readonly baseOffset?: number;
  /** What is being decoded, for error messages (e.g. "manifest"). */
  readonly context?: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes exactly one CBOR data item, strictly:
 * - definite lengths only (no indefinite-length strings, arrays or maps);
 * - shortest-form heads only (integers, lengths and tags use the fewest bytes, RFC 8949 §4.2.1);
 * - no duplicate map keys; text must be valid UTF-8;
 * - no floating-point numbers, no simple values other than false/true/null/undefined;
 * - no trailing bytes after the item; the {@link CborLimits} are enforced.
 *
 * Any violation throws `CoreError('MANIFEST_MALFORMED')` with `details: { offset, reason }`;
 * nothing else is thrown for any input.
 *
 * @example
 * const value = decodeCbor(bytes, { context: 'envelope' });
 */
export function decodeCbor(bytes: Uint8Array, options: CborDecodeOptions = {}): CborValue {
  const limits = options.limits ? completeLimits(options.limits) : DEFAULT_CBOR_LIMITS;
  const decoder = new StrictDecoder(
    bytes,
    limits,
    options.requireSortedKeys ?? false,
    options.baseOffset ?? 0,
    options.context ?? 'CBOR',
  );
  if (bytes.length > limits.maxBytes) {
    decoder.fail(0, `input of ${bytes.length} bytes exceeds the limit of ${limits.maxBytes}`);
  }
  if (bytes.length === 0) decoder.fail(0, 'empty input');
  const value = decoder.item(0);
  if (decoder.pos !== bytes.length) {
    decoder.fail(decoder.pos, `${bytes.length - decoder.pos} trailing byte(s) after the data item`);
  }
  return value;
}

/** A full limits object as is (no copy on the hot path), a partial one merged with the defaults. */
function completeLimits(limits: Partial<CborLimits>): CborLimits {
  if (
    limits.maxBytes !== undefined &&
    limits.maxDepth !== undefined &&
    limits.maxItems !== undefined &&
    limits.maxStringLength !== undefined
  ) {
    return limits as CborLimits;
  }
  return { ...DEFAULT_CBOR_LIMITS, ...limits };
}

class StrictDecoder {
  pos = 0;
  items = 0;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly limits: CborLimits,
    private readonly sorted: boolean,
    private readonly base: number,
    private readonly context: string,
  ) {}

  fail(offset: number, reason: string): never {
    const at = this.base + offset;
    throw new CoreError('MANIFEST_MALFORMED', `${this.context}: ${reason} (at byte ${at})`, {
      details: { offset: at, reason, context: this.context },
    });
  }

  /** Reads the argument of a head whose additional information is `ai`; enforces shortest form. */
  #argument(start: number, ai: number): number | bigint {
    const bytes = this.bytes;
    if (ai < 24) return ai;
    const need = ai === 24 ? 1 : ai === 25 ? 2 : ai === 26 ? 4 : ai === 27 ? 8 : -1;
    if (need < 0) {
      if (ai === 31) this.fail(start, 'indefinite length is not allowed');
      this.fail(start, `reserved additional information ${ai}`);
    }
    if (this.pos + need > bytes.length) this.fail(start, 'truncated head');
    const p = this.pos;
    this.pos += need;
    let value: number;
    let min: number;
    switch (need) {
      case 1:
        value = bytes[p]!;
        min = 24;
        break;
      case 2:
        value = (bytes[p]! << 8) | bytes[p + 1]!;
        min = 0x100;
        break;
      case 4:
        value =
          bytes[p]! * 0x1000000 + ((bytes[p + 1]! << 16) | (bytes[p + 2]! << 8) | bytes[p + 3]!);
        min = 0x10000;
        break;
      default: {
        const hi =
          bytes[p]! * 0x1000000 + ((bytes[p + 1]! << 16) | (bytes[p + 2]! << 8) | bytes[p + 3]!);
        const lo =
          bytes[p + 4]! * 0x1000000 +
          ((bytes[p + 5]! << 16) | (bytes[p + 6]! << 8) | bytes[p + 7]!);
        if (hi === 0) this.fail(start, 'non-shortest encoding of an integer or length');
        // Safe integers have hi < 2^21.
        return hi < 0x200000 ? hi * 0x100000000 + lo : (BigInt(hi) << 32n) | BigInt(lo);
      }
    }
    if (value < min) this.fail(start, 'non-shortest encoding of an integer or length');
    return value;
  }

  #length(start: number, ai: number, what: string, unit: number): number {
    const n = this.#argument(start, ai);
    const remaining = this.bytes.length - this.pos;
    // Every element takes at least `unit` bytes, so a declared length beyond what is left is a lie:
    // reject it before allocating anything for it.
    if (typeof n === 'bigint' || n * unit > remaining) {
      this.fail(start, `${what} declares ${String(n)} but only ${remaining} byte(s) remain`);
    }
    return n;
  }

  item(depth: number): CborValue {
    if (++this.items > this.limits.maxItems) {
      this.fail(this.pos, `more than ${this.limits.maxItems} data items`);
    }
    const bytes = this.bytes;
    const start = this.pos;
    if (start >= bytes.length) this.fail(start, 'unexpected end of input');
    const initial = bytes[this.pos++]!;
    const major = initial >> 5;
    const ai = initial & 0x1f;
    switch (major) {
      case 0:
        return this.#argument(start, ai);
      case 1: {
        const n = this.#argument(start, ai);
        if (typeof n === 'number') {
          const v = -1 - n;
          return Number.isSafeInteger(v) ? v : -1n - BigInt(n);
        }
        return -1n - n;
      }
      case 2: {
        const len = this.#length(start, ai, 'byte string', 1);
        if (len > this.limits.maxStringLength)
          this.fail(start, `byte string longer than ${this.limits.maxStringLength}`);
        const value = bytes.subarray(this.pos, this.pos + len);
        this.pos += len;
        return value;
      }
      case 3: {
        const len = this.#length(start, ai, 'text string', 1);
        if (len > this.limits.maxStringLength)
          this.fail(start, `text string longer than ${this.limits.maxStringLength}`);
        const end = this.pos + len;
        let text: string;
        try {
          text = utf8.decode(bytes.subarray(this.pos, end));
        } catch {
          this.fail(start, 'text string is not valid UTF-8');
        }
        this.pos = end;
        return text;
      }
      case 4: {
        const len = this.#length(start, ai, 'array', 1);
        if (depth >= this.limits.maxDepth)
          this.fail(start, `nesting deeper than ${this.limits.maxDepth}`);
        const out: CborValue[] = new Array(len);
        for (let i = 0; i < len; i++) out[i] = this.item(depth + 1);
        return out;
      }
      case 5:
        return this.#map(start, ai, depth);
      case 6: {
        const tag = this.#argument(start, ai);
        if (typeof tag === 'bigint') this.fail(start, 'tag number too large');
        if (depth >= this.limits.maxDepth)
          this.fail(start, `nesting deeper than ${this.limits.maxDepth}`);
        return new CborTag(tag, this.item(depth + 1));
      }
      default:
        return this.#simple(start, ai);
    }
  }

  #map(start: number, ai: number, depth: number): CborMap {
    const len = this.#length(start, ai, 'map', 2);
    if (depth >= this.limits.maxDepth)
      this.fail(start, `nesting deeper than ${this.limits.maxDepth}`);
    const flat: CborValue[] = new Array(2 * len);
    let simpleKeys: Set<CborSimpleKey> | undefined;
    let otherKeys: Set<string> | undefined;
    let previousKey: Uint8Array | undefined;
    for (let i = 0; i < len; i++) {
      const keyStart = this.pos;
      const key = this.item(depth + 1);
      if (typeof key === 'number' || typeof key === 'string' || typeof key === 'bigint') {
        // Small maps (nearly all of SUIT's) check duplicates by a scan; larger ones by a set.
        if (len <= 16) {
          for (let j = 0; j < 2 * i; j += 2) {
            if (flat[j] === key) this.fail(keyStart, `duplicate map key ${String(key)}`);
          }
        } else {
          simpleKeys ??= new Set();
          if (simpleKeys.has(key)) this.fail(keyStart, `duplicate map key ${String(key)}`);
          simpleKeys.add(key);
        }
      } else {
        otherKeys ??= new Set();
        // Shortest-form is enforced, so equal keys have equal encodings.
        const id = Buffer.from(
          this.bytes.buffer,
          this.bytes.byteOffset + keyStart,
          this.pos - keyStart,
        ).toString('latin1');
        if (otherKeys.has(id)) this.fail(keyStart, 'duplicate map key');
        otherKeys.add(id);
      }
      if (this.sorted) {
        const keyBytes = this.bytes.subarray(keyStart, this.pos);
        if (previousKey && compareBytes(previousKey, keyBytes) >= 0) {
          this.fail(keyStart, 'map keys are not in deterministic (bytewise) order');
        }
        previousKey = keyBytes;
      }
      flat[2 * i] = key;
      flat[2 * i + 1] = this.item(depth + 1);
    }
    return CborMap.fromFlat(flat);
  }

  #simple(start: number, ai: number): CborValue {
    switch (ai) {
      case 20:
        return false;
      case 21:
        return true;
      case 22:
        return null;
      case 23:
        return undefined;
      case 25:
      case 26:
      case 27:
        this.fail(start, 'floating-point numbers are not allowed');
        break;
      case 31:
        this.fail(start, 'unexpected "break" outside an indefinite-length item');
        break;
      default:
        this.fail(
          start,
          `simple value ${ai === 24 ? (this.bytes[this.pos] ?? '?') : ai} is not allowed`,
        );
    }
  }
}

/** Bytewise lexicographic comparison (RFC 8949 §4.2.1 key order). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}
