/**
 * Suffix array by induced sorting (SA-IS, Nong, Zhang & Chan 2009): linear time, typed arrays only.
 * Memory: the result (4 bytes per input byte) plus about 1.25 bytes per input byte of work space
 * at the top level (type bits, bucket arrays, the reduced problem reuses the result array).
 */

type Text = Uint8Array | Int32Array;

/** Returns the suffix array of `text` (positions of all suffixes in lexicographic order). */
export function suffixArray(text: Uint8Array): Int32Array {
  const n = text.length;
  const sa = new Int32Array(n);
  if (n === 0) return sa;
  if (n === 1) return sa;
  sais(text, sa, n, 256);
  return sa;
}

function getBuckets(text: Text, n: number, k: number, end: boolean): Int32Array {
  const bkt = new Int32Array(k);
  for (let i = 0; i < n; i++) bkt[text[i]!]!++;
  let sum = 0;
  for (let c = 0; c < k; c++) {
    sum += bkt[c]!;
    bkt[c] = end ? sum : sum - bkt[c]!;
  }
  return bkt;
}

function induce(text: Text, sa: Int32Array, t: Uint8Array, n: number, k: number): void {
  let bkt = getBuckets(text, n, k, false);
  // The virtual sentinel suffix (n) is S-type and smallest: n - 1 is always L-type and goes first.
  sa[bkt[text[n - 1]!]!++] = n - 1;
  for (let i = 0; i < n; i++) {
    const j = sa[i]! - 1;
    if (j >= 0 && t[j] === 0) sa[bkt[text[j]!]!++] = j;
  }
  bkt = getBuckets(text, n, k, true);
  for (let i = n - 1; i >= 0; i--) {
    const j = sa[i]! - 1;
    if (j >= 0 && t[j] === 1) sa[--bkt[text[j]!]!] = j;
  }
}

function isLms(t: Uint8Array, i: number): boolean {
  return i > 0 && t[i] === 1 && t[i - 1] === 0;
}

function sais(text: Text, sa: Int32Array, n: number, k: number): void {
  // t[i] = 1 for S-type, 0 for L-type; the sentinel after the text is S-type.
  const t = new Uint8Array(n);
  t[n - 1] = 0;
  for (let i = n - 2; i >= 0; i--) {
    const a = text[i]!;
    const b = text[i + 1]!;
    t[i] = a < b || (a === b && t[i + 1] === 1) ? 1 : 0;
  }
  // Step 1: sort LMS substrings.
  sa.fill(-1);
  let bkt = getBuckets(text, n, k, true);
  for (let i = 1; i < n; i++) if (isLms(t, i)) sa[--bkt[text[i]!]!] = i;
  induce(text, sa, t, n, k);
  // Compact the sorted LMS positions to the front.
  let n1 = 0;
  for (let i = 0; i < n; i++) if (isLms(t, sa[i]!)) sa[n1++] = sa[i]!;
  sa.fill(-1, n1);
  // Name LMS substrings.
  let name = 0;
  let prev = -1;
  for (let i = 0; i < n1; i++) {
    const pos = sa[i]!;
    let diff = false;
    for (let d = 0; ; d++) {
      if (prev === -1 || pos + d === n || prev + d === n) {
        diff = true;
        break;
      }
      if (text[pos + d] !== text[prev + d] || t[pos + d] !== t[prev + d]) {
        diff = true;
        break;
      }
      if (d > 0 && (isLms(t, pos + d) || isLms(t, prev + d))) break;
    }
    if (diff) {
      name++;
      prev = pos;
    }
    sa[n1 + (pos >>> 1)] = name - 1;
  }
  let j = n - 1;
  for (let i = n - 1; i >= n1; i--) if (sa[i]! >= 0) sa[j--] = sa[i]!;
  // Step 2: sort the reduced problem (recursively when names are not unique).
  const s1 = sa.subarray(n - n1);
  const sa1 = new Int32Array(n1);
  if (name < n1) {
    sais(Int32Array.from(s1), sa1, n1, name);
  } else {
    for (let i = 0; i < n1; i++) sa1[s1[i]!] = i;
  }
  // Step 3: induce the full order from the sorted LMS suffixes.
  j = 0;
  for (let i = 1; i < n; i++) if (isLms(t, i)) s1[j++] = i; // s1 now maps rank -> position
  const lmsPos = Int32Array.from(s1);
  sa.fill(-1);
  bkt = getBuckets(text, n, k, true);
  for (let i = n1 - 1; i >= 0; i--) {
    const p = lmsPos[sa1[i]!]!;
    sa[--bkt[text[p]!]!] = p;
  }
  induce(text, sa, t, n, k);
}
