/**
 * Hash-chain matcher over the new image for matches inside the decoder's window (LZ77 style).
 * Memory: a 2^16-entry head table plus one chain link per window position (both Int32Array).
 */
import { MIN_MATCH } from './patch-model.js';

const HASH_BITS = 16;

export class LzMatcher {
  private readonly head = new Int32Array(1 << HASH_BITS).fill(-1);
  private readonly prev: Int32Array;
  private readonly windowMask: number;
  private inserted = 0;
  /** Result of the last {@link LzMatcher.find}. */
  bestLength = 0;
  bestDistance = 0;

  constructor(
    private readonly data: Uint8Array,
    private readonly windowSize: number,
    private readonly depth: number,
  ) {
    this.prev = new Int32Array(windowSize);
    this.windowMask = windowSize - 1;
  }

  private hash(p: number): number {
    const d = this.data;
    const v = (d[p]! | (d[p + 1]! << 8) | (d[p + 2]! << 16) | (d[p + 3]! << 24)) >>> 0;
    return Math.imul(v, 0x9e3779b1) >>> (32 - HASH_BITS);
  }

  /** Adds every position before `end` to the chains. */
  insertUpTo(end: number): void {
    const last = Math.min(end, this.data.length - 3);
    for (let p = this.inserted; p < last; p++) {
      const h = this.hash(p);
      this.prev[p & this.windowMask] = this.head[h]!;
      this.head[h] = p;
    }
    if (end > this.inserted) this.inserted = end;
  }

  /** Finds the longest match at `p` (positions before `p` must be inserted) up to `maxLength`. */
  find(p: number, maxLength: number): number {
    this.bestLength = 0;
    this.bestDistance = 0;
    if (maxLength < MIN_MATCH || p + 3 >= this.data.length) return 0;
    const d = this.data;
    const limit = p - this.windowSize;
    let candidate = this.head[this.hash(p)]!;
    for (let chain = this.depth; chain > 0 && candidate >= 0 && candidate > limit; chain--) {
      if (candidate < p && d[candidate + this.bestLength] === d[p + this.bestLength]) {
        let len = 0;
        while (len < maxLength && d[candidate + len] === d[p + len]) len++;
        if (len > this.bestLength) {
          this.bestLength = len;
          this.bestDistance = p - candidate;
          if (len === maxLength) break;
        }
      }
      const next = this.prev[candidate & this.windowMask]!;
      if (next >= candidate) break; // the ring slot was reused by a newer position
      candidate = next;
    }
    return this.bestLength;
  }
}

/** Length of the common prefix of a[ai…] and b[bi…], at most `max`. */
export function commonLength(
  a: Uint8Array,
  ai: number,
  b: Uint8Array,
  bi: number,
  max: number,
): number {
  let k = 0;
  const m = Math.min(max, a.length - ai, b.length - bi);
  while (k < m && a[ai + k] === b[bi + k]) k++;
  return k;
}
