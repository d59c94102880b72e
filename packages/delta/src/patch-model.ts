/**
 * The context models of a patch body: how each syntax element is turned into bits for the range
 * coder. Encoder and decoder share this file so that they cannot drift apart; every method comes
 * as an encode/decode pair. docs/delta-format.md, "Body coding", mirrors it.
 */
import { Mixer } from './mixer.js';
import {
  MOVE_BITS,
  newProbs,
  PROB_BITS,
  type RangeDecoder,
  type RangeEncoder,
} from './range-coder.js';

/** Largest value a number model codes (values are sizes and offsets below 2^32). */
export const MAX_CODED_NUMBER = 0xfffffffe;

/** Leading-bits tree depth of a number's mantissa: the bits after these are coded raw. */
const MANTISSA_MODELLED_BITS = 4;

/**
 * Codes an unsigned integer v < 2^32 - 1 as x = v + 1: the bit length n of x (1..32, a 6-bit tree),
 * then the n - 1 bits below x's leading one, the first 4 through a per-length tree, the rest raw.
 */
export class NumberModel {
  private readonly lengthProbs = newProbs(64);
  private readonly mantissaProbs = newProbs(33 << MANTISSA_MODELLED_BITS);

  encode(rc: RangeEncoder, value: number): void {
    const x = value + 1;
    const n = bitLength(x);
    rc.encodeTree(this.lengthProbs, 0, 6, n - 1);
    let rest = n - 1;
    let node = 1;
    const base = n << MANTISSA_MODELLED_BITS;
    while (rest > 0 && node < 1 << MANTISSA_MODELLED_BITS) {
      rest--;
      const bit = Math.floor(x / 2 ** rest) % 2;
      rc.encodeBit(this.mantissaProbs, base + node, bit);
      node = (node << 1) | bit;
    }
    if (rest > 0) rc.encodeDirect(x % 2 ** rest, rest);
  }

  /** Returns the value, or -1 when the coded bit length is impossible (a corrupt stream). */
  decode(rc: RangeDecoder): number {
    const n = rc.decodeTree(this.lengthProbs, 0, 6) + 1;
    if (n > 32) return -1;
    let x = 1;
    let rest = n - 1;
    let node = 1;
    const base = n << MANTISSA_MODELLED_BITS;
    while (rest > 0 && node < 1 << MANTISSA_MODELLED_BITS) {
      rest--;
      const bit = rc.decodeBit(this.mantissaProbs, base + node);
      node = (node << 1) | bit;
      x = x * 2 + bit;
    }
    if (rest > 0) x = x * 2 ** rest + rc.decodeDirect(rest);
    return x - 1;
  }
}

function bitLength(x: number): number {
  return x >= 2 ** 31 ? 32 : 32 - Math.clz32(x);
}

/** Signed integers through a {@link NumberModel}: zigzag (0, -1, 1, -2, …). */
export class SignedModel {
  private readonly magnitude = new NumberModel();

  encode(rc: RangeEncoder, value: number): void {
    this.magnitude.encode(rc, value >= 0 ? value * 2 : -value * 2 - 1);
  }

  decode(rc: RangeDecoder): number {
    const z = this.magnitude.decode(rc);
    if (z < 0) return Number.NaN;
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }
}

/**
 * Difference bytes d = (new - old) mod 256 of an approximate copy.
 * - a zero flag, in the context of the output position mod 4, whether each of the previous four
 *   differences was zero, and whether the old byte is ≥ 0xF0;
 * - for a non-zero d: a flag "d equals the last non-zero difference at the same position mod 4"
 *   (relocated pointers and calls repeat the same change), then a flag "d equals the last non-zero
 *   difference", then d itself through an 8-bit tree; each in the context of the position mod 4
 *   and whether the previous difference was zero.
 */
export class DiffModel {
  private readonly zeroProbs = newProbs(4 * 16 * 16);
  private readonly zeroByNext = newProbs(4 * 4 * 256);
  private readonly zeroByPrev = newProbs(4 * 4 * 256);
  private readonly zeroMixer = new Mixer(3, 4);
  private readonly sameProbs = newProbs(4 * 2 * 2);
  private readonly valueProbs = newProbs(4 * 2 * 256);
  private readonly lastByAlignment = new Uint8Array(4);
  private lastHit = 0;
  private history = 0; // bit k: the difference k + 1 bytes back was non-zero

  private c1 = 0;
  private c2 = 0;
  private c3 = 0;

  /** P(d = 0) from three contexts mixed; `prev` and `next` are the old bytes around the cursor. */
  private zeroProbability(pos: number, prev: number, next: number): number {
    const a = pos & 3;
    this.c1 = (((a << 4) | this.history) << 4) | (next >>> 4);
    this.c2 = (((a << 2) | (this.history & 3)) << 8) | next;
    this.c3 = (((a << 2) | (this.history & 3)) << 8) | prev;
    this.zeroMixer.setInput(0, this.zeroProbs[this.c1]!);
    this.zeroMixer.setInput(1, this.zeroByNext[this.c2]!);
    this.zeroMixer.setInput(2, this.zeroByPrev[this.c3]!);
    return this.zeroMixer.mix(a);
  }

  private updateZero(bit: number): void {
    this.zeroMixer.update(bit);
    adapt(this.zeroProbs, this.c1, bit);
    adapt(this.zeroByNext, this.c2, bit);
    adapt(this.zeroByPrev, this.c3, bit);
  }

  encode(rc: RangeEncoder, pos: number, prev: number, next: number, d: number): void {
    rc.encodeWithProbability(this.zeroProbability(pos, prev, next), d === 0 ? 0 : 1);
    this.updateZero(d === 0 ? 0 : 1);
    if (d === 0) {
      this.history = (this.history << 1) & 15;
      return;
    }
    const a = pos & 3;
    const vctx = (a << 1) | (this.history & 1);
    const byAlignment = this.lastByAlignment[a]!;
    const hit = d === byAlignment ? 1 : 0;
    rc.encodeBit(this.sameProbs, (vctx << 1) | this.lastHit, hit);
    if (!hit) rc.encodeTree(this.valueProbs, vctx << 8, 8, d);
    this.lastHit = hit;
    this.update(a, d);
  }

  decode(rc: RangeDecoder, pos: number, prev: number, next: number): number {
    const zero = rc.decodeWithProbability(this.zeroProbability(pos, prev, next)) === 0;
    this.updateZero(zero ? 0 : 1);
    if (zero) {
      this.history = (this.history << 1) & 15;
      return 0;
    }
    const a = pos & 3;
    const vctx = (a << 1) | (this.history & 1);
    let d = this.lastByAlignment[a]!;
    const hit = rc.decodeBit(this.sameProbs, (vctx << 1) | this.lastHit);
    if (!hit) d = rc.decodeTree(this.valueProbs, vctx << 8, 8);
    this.lastHit = hit;
    this.update(a, d);
    return d;
  }

  private update(alignment: number, d: number): void {
    this.lastByAlignment[alignment] = d;
    this.history = ((this.history << 1) | 1) & 15;
  }
}

/** The range coder's adaptation step, for probabilities used through a mixer. */
function adapt(probs: Uint16Array, index: number, bit: number): void {
  const p = probs[index]!;
  probs[index] = bit === 0 ? p + (((1 << PROB_BITS) - p) >>> MOVE_BITS) : p - (p >>> MOVE_BITS);
}

/** Literal bytes: an 8-bit tree in the context of the previous byte's top 3 bits and pos mod 2. */
export class LiteralModel {
  private readonly probs = newProbs(16 * 256);

  encode(rc: RangeEncoder, pos: number, prev: number, byte: number): void {
    rc.encodeTree(this.probs, (((prev >>> 5) << 1) | (pos & 1)) << 8, 8, byte);
  }

  decode(rc: RangeDecoder, pos: number, prev: number): number {
    return rc.decodeTree(this.probs, (((prev >>> 5) << 1) | (pos & 1)) << 8, 8);
  }
}

/** Kinds of item inside an extra region. */
export const ITEM_LITERAL = 0;
export const ITEM_MATCH = 1;
export const ITEM_REP = 2;
export const ITEM_OLD = 3;
/** Shortest copy from the old image inside an extra region. */
export const MIN_OLD_MATCH = 6;

/** Shortest window match; a repeat of the last distance may be shorter. */
export const MIN_MATCH = 4;
export const MIN_REP = 2;

/**
 * All models of one patch body. One instance per encode or decode; nothing is shared between
 * patches. Sizes (probabilities of 2 bytes each) are listed in docs/delta-format.md.
 */
export class PatchModel {
  readonly addLength = new NumberModel();
  readonly extraLength = new NumberModel();
  readonly seek = new SignedModel();
  readonly diff = new DiffModel();
  readonly literal = new LiteralModel();
  readonly matchLength = new NumberModel();
  readonly repLength = new NumberModel();
  readonly distance = new NumberModel();
  readonly oldMatchLength = new NumberModel();
  /** Old-image copy position relative to the old cursor. */
  readonly oldOffset = new SignedModel();
  /**
   * Item kind: bit "is not a literal", then bit "is a repeat", then bit "copies from the old
   * image" (else from the window), each in the context of the previous item's kind.
   */
  private readonly itemProbs = newProbs(4 * 3);
  private lastItem = ITEM_LITERAL;

  encodeItem(rc: RangeEncoder, kind: number): void {
    const ctx = this.lastItem * 3;
    rc.encodeBit(this.itemProbs, ctx, kind === ITEM_LITERAL ? 0 : 1);
    if (kind !== ITEM_LITERAL) {
      rc.encodeBit(this.itemProbs, ctx + 1, kind === ITEM_REP ? 1 : 0);
      if (kind !== ITEM_REP) rc.encodeBit(this.itemProbs, ctx + 2, kind === ITEM_OLD ? 1 : 0);
    }
    this.lastItem = kind;
  }

  decodeItem(rc: RangeDecoder): number {
    const ctx = this.lastItem * 3;
    let kind = ITEM_LITERAL;
    if (rc.decodeBit(this.itemProbs, ctx) === 1) {
      if (rc.decodeBit(this.itemProbs, ctx + 1) === 1) kind = ITEM_REP;
      else kind = rc.decodeBit(this.itemProbs, ctx + 2) === 1 ? ITEM_OLD : ITEM_MATCH;
    }
    this.lastItem = kind;
    return kind;
  }
}
