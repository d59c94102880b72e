/**
 * ARM Thumb-2 branch transform (docs/delta-format.md, "Thumb-2 transform").
 *
 * A 32-bit BL or B.W at even offset i stores its target relative to i + 4. Code that moves keeps
 * its relative offsets to code that did not move, and the other way round, so after a change most
 * calls in a shifted region differ from the old image. Rewriting the offset field as the absolute
 * halfword address (i + 4) / 2 + offset makes every call to the same function identical wherever
 * it is, which the matcher and the coder then exploit.
 *
 * The decision is local so that a decoder can transform any old range on its own: position i is
 * rewritten when it is a candidate (hw1 = 11110xxx xxxxxxxx, hw2 bits 15 and 12 set: BL or B.W)
 * and i - 2 is not. The rewrite keeps hw1 bits 15..11 and hw2 bits 15, 14 and 12, the only bits the
 * decision reads, so the inverse can take the same decision on transformed bytes.
 */

/** True when the halfword pair at even offset `i` looks like a 32-bit BL or B.W. */
function candidate(b: Uint8Array, i: number, n: number): boolean {
  return i >= 0 && i + 3 < n && (b[i + 1]! & 0xf8) === 0xf0 && (b[i + 3]! & 0x90) === 0x90;
}

/** Reads the 24-bit offset field (halfwords, two's complement) of the branch at `i`. */
function readOffset(b: Uint8Array, i: number): number {
  const hw1 = b[i]! | (b[i + 1]! << 8);
  const hw2 = b[i + 2]! | (b[i + 3]! << 8);
  const s = (hw1 >>> 10) & 1;
  const i1 = 1 ^ ((hw2 >>> 13) & 1) ^ s;
  const i2 = 1 ^ ((hw2 >>> 11) & 1) ^ s;
  return (s << 23) | (i1 << 22) | (i2 << 21) | ((hw1 & 0x3ff) << 11) | (hw2 & 0x7ff);
}

function writeOffset(b: Uint8Array, i: number, off: number): void {
  const s = (off >>> 23) & 1;
  const j1 = 1 ^ ((off >>> 22) & 1) ^ s;
  const j2 = 1 ^ ((off >>> 21) & 1) ^ s;
  const hw1 = ((b[i]! | (b[i + 1]! << 8)) & 0xf800) | (s << 10) | ((off >>> 11) & 0x3ff);
  const hw2 = ((b[i + 2]! | (b[i + 3]! << 8)) & 0xd000) | (j1 << 13) | (j2 << 11) | (off & 0x7ff);
  b[i] = hw1 & 0xff;
  b[i + 1] = hw1 >>> 8;
  b[i + 2] = hw2 & 0xff;
  b[i + 3] = hw2 >>> 8;
}

/** Reads the absolute form stored by the forward transform (24 bits, hw1 low 11 bits on top). */
function readAbsolute(b: Uint8Array, i: number): number {
  const hw1 = b[i]! | (b[i + 1]! << 8);
  const hw2 = b[i + 2]! | (b[i + 3]! << 8);
  return (
    ((hw1 & 0x7ff) << 13) | (((hw2 >>> 13) & 1) << 12) | (((hw2 >>> 11) & 1) << 11) | (hw2 & 0x7ff)
  );
}

function writeAbsolute(b: Uint8Array, i: number, abs: number): void {
  const hw1 = ((b[i]! | (b[i + 1]! << 8)) & 0xf800) | ((abs >>> 13) & 0x7ff);
  const hw2 =
    ((b[i + 2]! | (b[i + 3]! << 8)) & 0xd000) |
    (((abs >>> 12) & 1) << 13) |
    (((abs >>> 11) & 1) << 11) |
    (abs & 0x7ff);
  b[i] = hw1 & 0xff;
  b[i + 1] = hw1 >>> 8;
  b[i + 2] = hw2 & 0xff;
  b[i + 3] = hw2 >>> 8;
}

/**
 * Forward transform of `src[start, end)`, where `src` holds image bytes from image offset `base`
 * and image size is `n`. Writes the transformed bytes of [start, end) into `dst` at
 * `dst[start - base]`… (dst and src may be different arrays of the same layout). `src` must cover
 * image offsets [start - 8, end + 8) clipped to [0, n).
 */
export function thumb2ForwardRange(
  src: Uint8Array,
  dst: Uint8Array,
  base: number,
  start: number,
  end: number,
  n: number,
): void {
  if (dst !== src) dst.set(src.subarray(start - base, end - base), start - base);
  let i = Math.max(0, start - 4);
  i -= i & 1;
  for (; i < end; i += 2) {
    const local = i - base;
    if (!candidate(src, local, n - base) || candidate(src, local - 2, n - base)) continue;
    const abs = (readOffset(src, local) + ((i + 4) >>> 1)) & 0xffffff;
    const tmp = Uint8Array.of(src[local]!, src[local + 1]!, src[local + 2]!, src[local + 3]!);
    writeAbsolute(tmp, 0, abs);
    for (let k = 0; k < 4; k++) {
      const at = i + k;
      if (at >= start && at < end) dst[at - base] = tmp[k]!;
    }
  }
}

/** Forward transform of a whole image (a new array). */
export function thumb2Forward(image: Uint8Array): Uint8Array {
  const out = new Uint8Array(image.length);
  thumb2ForwardRange(image, out, 0, 0, image.length, image.length);
  return out;
}

/**
 * Streaming inverse transform. Feed transformed bytes in order into a buffer and call
 * {@link Thumb2Inverse.restore}; it restores in place the bytes whose decision is known and says
 * how many leading bytes are final. Keeps 3 bytes of state between calls.
 */
export class Thumb2Inverse {
  /** Image offset of the next undecided even position. */
  private next = 0;
  /** Original byte at image offset next - 1 (for the candidate(i - 2) test). */
  private prev1 = 0;

  /**
   * `buf[0, len)` holds image bytes from offset `base` (already-final bytes before `this.next`,
   * transformed bytes after). Restores what it can and returns the count of final leading bytes.
   * With `atEnd`, every byte is final.
   */
  restore(buf: Uint8Array, base: number, len: number, atEnd: boolean): number {
    let i = this.next;
    while (i + 3 < base + len) {
      const local = i - base;
      const b1 = buf[local + 1]!;
      const b3 = buf[local + 3]!;
      const isCandidate = (b1 & 0xf8) === 0xf0 && (b3 & 0x90) === 0x90;
      // candidate(i - 2) on original bytes: hw(i - 2) is final, hw(i)'s tested bits are invariant.
      const prevCandidate = i >= 2 && (this.prev1 & 0xf8) === 0xf0 && (b1 & 0x90) === 0x90;
      if (isCandidate && !prevCandidate) {
        const off = (readAbsolute(buf, local) - ((i + 4) >>> 1)) & 0xffffff;
        writeOffset(buf, local, off);
        this.prev1 = buf[local + 3]!;
        i += 4;
      } else {
        this.prev1 = b1;
        i += 2;
      }
    }
    this.next = i;
    if (atEnd) return len;
    return Math.min(len, i - base);
  }
}
