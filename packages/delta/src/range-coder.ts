/**
 * Adaptive binary range coder (the LZMA flavour: 32-bit range, 11-bit probabilities, adaptation
 * shift 5, carry propagation through a cached byte). docs/delta-format.md specifies it bit for bit.
 */

/** Probability scale: a probability is an integer in (0, 2^11) meaning P(bit = 0). */
export const PROB_BITS = 11;
export const PROB_INIT = 1 << (PROB_BITS - 1);
export const MOVE_BITS = 5;
const TOP = 1 << 24;
const TWO_32 = 2 ** 32;

/** A block of adaptive probabilities, all starting at 1/2. */
export function newProbs(count: number): Uint16Array {
  return new Uint16Array(count).fill(PROB_INIT);
}

/** Encodes bits into a growable byte buffer. */
export class RangeEncoder {
  private low = 0; // < 2^33 (one carry bit above 32)
  private range = 0xffffffff;
  private cache = 0;
  private cacheSize = 1;
  private out: Uint8Array = new Uint8Array(1 << 16);
  private length = 0;

  encodeBit(probs: Uint16Array, index: number, bit: number): void {
    const p = probs[index]!;
    const bound = (this.range >>> PROB_BITS) * p;
    if (bit === 0) {
      this.range = bound;
      probs[index] = p + (((1 << PROB_BITS) - p) >>> MOVE_BITS);
    } else {
      this.low += bound;
      this.range -= bound;
      probs[index] = p - (p >>> MOVE_BITS);
    }
    while (this.range < TOP) {
      this.range = this.range * 256;
      this.shiftLow();
    }
  }

  /** Encodes a bit with a given probability `p0` of a zero (1..2047 of 2048); no adaptation. */
  encodeWithProbability(p0: number, bit: number): void {
    const bound = (this.range >>> PROB_BITS) * p0;
    if (bit === 0) this.range = bound;
    else {
      this.low += bound;
      this.range -= bound;
    }
    while (this.range < TOP) {
      this.range = this.range * 256;
      this.shiftLow();
    }
  }

  /** Encodes `count` raw bits of `value` (most significant first) at probability 1/2. */
  encodeDirect(value: number, count: number): void {
    for (let i = count - 1; i >= 0; i--) {
      this.range = Math.floor(this.range / 2);
      if (Math.floor(value / 2 ** i) % 2 === 1) this.low += this.range;
      while (this.range < TOP) {
        this.range = this.range * 256;
        this.shiftLow();
      }
    }
  }

  /** Encodes the low `bits` bits of `value` MSB first through a binary tree of probabilities. */
  encodeTree(probs: Uint16Array, base: number, bits: number, value: number): void {
    let node = 1;
    for (let i = bits - 1; i >= 0; i--) {
      const bit = (value >>> i) & 1;
      this.encodeBit(probs, base + node, bit);
      node = (node << 1) | bit;
    }
  }

  /** Flushes the coder and returns the encoded bytes. */
  finish(): Uint8Array {
    for (let i = 0; i < 5; i++) this.shiftLow();
    return this.out.subarray(0, this.length);
  }

  /** Bytes written so far (a lower bound of the final size). */
  get size(): number {
    return this.length + this.cacheSize + 4;
  }

  private shiftLow(): void {
    if (this.low < 0xff000000 || this.low >= TWO_32) {
      const carry = this.low >= TWO_32 ? 1 : 0;
      let temp = this.cache;
      do {
        this.put((temp + carry) & 0xff);
        temp = 0xff;
      } while (--this.cacheSize !== 0);
      this.cache = Math.floor(this.low / TOP) & 0xff;
    }
    this.cacheSize++;
    this.low = (this.low % TOP) * 256;
  }

  private put(byte: number): void {
    if (this.length === this.out.length) {
      const bigger = new Uint8Array(this.out.length * 2);
      bigger.set(this.out);
      this.out = bigger;
    }
    this.out[this.length++] = byte;
  }
}

/**
 * Decodes bits from a caller-managed input window. The caller guarantees enough buffered input
 * before each bounded unit of work (see apply.ts); reading past the buffered input yields zeros
 * and counts `overread`, which the caller turns into a truncation error.
 */
export class RangeDecoder {
  range = 0xffffffff;
  code = 0;
  /** Input bytes; `pos` is the next byte to read and `end` the end of valid data. */
  buf: Uint8Array;
  pos = 0;
  end = 0;
  overread = 0;
  /** Set when `buf` holds the rest of the stream: no more input will come. */
  inputComplete = false;

  constructor(buf: Uint8Array) {
    this.buf = buf;
  }

  /** Reads the 5 initial bytes. Returns false when the first byte is not 0 (not a valid stream). */
  init(): boolean {
    const first = this.next();
    this.code = 0;
    for (let i = 0; i < 4; i++) this.code = this.code * 256 + this.next();
    this.range = 0xffffffff;
    return first === 0;
  }

  /** True when the decoder's state is impossible for a well-formed stream. */
  get corrupt(): boolean {
    return this.code >= this.range;
  }

  decodeBit(probs: Uint16Array, index: number): number {
    const p = probs[index]!;
    const bound = (this.range >>> PROB_BITS) * p;
    let bit: number;
    if (this.code < bound) {
      this.range = bound;
      probs[index] = p + (((1 << PROB_BITS) - p) >>> MOVE_BITS);
      bit = 0;
    } else {
      this.code -= bound;
      this.range -= bound;
      probs[index] = p - (p >>> MOVE_BITS);
      bit = 1;
    }
    while (this.range < TOP) {
      this.range = this.range * 256;
      this.code = this.code * 256 + this.next();
    }
    return bit;
  }

  /** Decodes a bit coded with {@link RangeEncoder.encodeWithProbability}. */
  decodeWithProbability(p0: number): number {
    const bound = (this.range >>> PROB_BITS) * p0;
    let bit = 0;
    if (this.code < bound) this.range = bound;
    else {
      this.code -= bound;
      this.range -= bound;
      bit = 1;
    }
    while (this.range < TOP) {
      this.range = this.range * 256;
      this.code = this.code * 256 + this.next();
    }
    return bit;
  }

  decodeDirect(count: number): number {
    let value = 0;
    for (let i = 0; i < count; i++) {
      this.range = Math.floor(this.range / 2);
      let bit = 0;
      if (this.code >= this.range) {
        this.code -= this.range;
        bit = 1;
      }
      value = value * 2 + bit;
      while (this.range < TOP) {
        this.range = this.range * 256;
        this.code = this.code * 256 + this.next();
      }
    }
    return value;
  }

  decodeTree(probs: Uint16Array, base: number, bits: number): number {
    let node = 1;
    for (let i = 0; i < bits; i++) node = (node << 1) | this.decodeBit(probs, base + node);
    return node - (1 << bits);
  }

  private next(): number {
    if (this.pos < this.end) return this.buf[this.pos++]!;
    this.overread++;
    return 0;
  }
}
