/**
 * The encoder: `diff(old, new) → patch`. bsdiff's matching (suffix array, approximate matches
 * extended while at least half their bytes agree) on optionally Thumb-2-transformed images, the
 * unmatched ("extra") regions LZ77-parsed inside the decoder's window, everything coded by the
 * adaptive range coder of patch-model.ts. Also codes the new image alone (a `full` patch) and
 * keeps whichever is smaller.
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { BugError } from '@updraft/core';
import { DeltaError } from './errors.js';
import { commonLength, LzMatcher } from './lz-matcher.js';
import {
  encodePatchHeader,
  MAX_IMAGE_SIZE,
  MAX_WINDOW_LOG,
  MIN_WINDOW_LOG,
  PATCH_FORMAT_VERSION,
  PATCH_HEADER_SIZE,
  type PatchKind,
  type PatchTransform,
} from './patch-header.js';
import {
  ITEM_LITERAL,
  ITEM_MATCH,
  ITEM_OLD,
  ITEM_REP,
  MIN_MATCH,
  MIN_OLD_MATCH,
  MIN_REP,
  PatchModel,
} from './patch-model.js';
import { RangeEncoder } from './range-coder.js';
import { suffixArray } from './suffix-array.js';
import { thumb2Forward } from './thumb2-transform.js';

/** Encoder settings. Every field is optional. */
export interface DiffOptions {
  /** `auto` (default) codes both kinds and keeps the smaller; `delta` or `full` forces one. */
  readonly kind?: 'auto' | PatchKind;
  /**
   * `auto` (default): images that look like Thumb-2 code are coded both ways (up to 16 MiB) and
   * the smaller kept; others use `none`.
   */
  readonly transform?: 'auto' | PatchTransform;
  /**
   * log2 of the decoder's window in bytes, 10..20 (default 12: 4 KiB; on the corpus 16 saves
   * only 0.1 %, since most matches come from the old image).
   */
  readonly windowLog?: number;
  /** Encoder memory budget in bytes (default 1 GiB); over it, `DELTA_BUDGET_EXCEEDED`. */
  readonly maxMemoryBytes?: number;
  /** Hash-chain depth of the window matcher (default 48): more is slower and a little smaller. */
  readonly searchDepth?: number;
  /** Called as work progresses (`done` of `total` units within a stage). */
  readonly onProgress?: (stage: DiffStage, done: number, total: number) => void;
}

export const DIFF_STAGES = ['transform', 'index', 'match', 'encode'] as const;
export type DiffStage = (typeof DIFF_STAGES)[number];

/** What {@link diffDetailed} chose and what the alternatives cost. */
export interface DiffReport {
  readonly patch: Uint8Array;
  readonly kind: PatchKind;
  readonly transform: PatchTransform;
  /** Patch size of the best `delta` candidate (undefined when not computed). */
  readonly deltaSize: number | undefined;
  /**
   * Patch size of the best `full` candidate: the compressed new image. Undefined when not
   * computed: `kind: 'delta'`, or `auto` on an image over 8 MiB with a delta under 1/16 of it.
   */
  readonly fullSize: number | undefined;
}

/** Budget for trying both transforms in `auto` mode. */
const AUTO_TRANSFORM_LIMIT = 16 << 20;
const DEFAULT_WINDOW_LOG = 12;
const SKIP_FULL_ABOVE = 8 << 20;
const DEFAULT_MAX_MEMORY = 1 << 30;

/**
 * Creates a patch turning `oldImage` into `newImage`.
 *
 * @example
 * const patch = diff(await readFile('v1.bin'), await readFile('v2.bin'));
 */
export function diff(
  oldImage: Uint8Array,
  newImage: Uint8Array,
  options: DiffOptions = {},
): Uint8Array {
  return diffDetailed(oldImage, newImage, options).patch;
}

/** Like {@link diff}, and says which kind and transform it chose and what the other kind costs. */
export function diffDetailed(
  oldImage: Uint8Array,
  newImage: Uint8Array,
  options: DiffOptions = {},
): DiffReport {
  if (oldImage.length > MAX_IMAGE_SIZE || newImage.length > MAX_IMAGE_SIZE) {
    throw new DeltaError('DELTA_INPUT_TOO_LARGE', 'image over the 1 GiB limit', {
      details: { oldSize: oldImage.length, newSize: newImage.length, limit: MAX_IMAGE_SIZE },
    });
  }
  const windowLog = options.windowLog ?? DEFAULT_WINDOW_LOG;
  if (!Number.isInteger(windowLog) || windowLog < MIN_WINDOW_LOG || windowLog > MAX_WINDOW_LOG) {
    // Callers validate user input (the CLI offers only 10..20); anything else is our bug.
    throw new BugError(`windowLog must be an integer in ${MIN_WINDOW_LOG}..${MAX_WINDOW_LOG}`);
  }
  const kindOption = options.kind ?? 'auto';
  const wantDelta = kindOption !== 'full';
  const wantFull = kindOption !== 'delta';
  const budget = options.maxMemoryBytes ?? DEFAULT_MAX_MEMORY;
  const estimate = estimateMemory(wantDelta ? oldImage.length : 0, newImage.length, windowLog);
  if (estimate > budget) {
    throw new DeltaError(
      'DELTA_BUDGET_EXCEEDED',
      'the images need more encoder memory than allowed',
      {
        details: { estimateBytes: estimate, maxMemoryBytes: budget },
      },
    );
  }
  const transforms = chooseTransforms(options.transform ?? 'auto', newImage);
  const depth = options.searchDepth ?? 48;
  const progress = options.onProgress ?? (() => {});
  const oldSha = sha256(oldImage);
  const newSha = sha256(newImage);

  let best: { patch: Uint8Array; kind: PatchKind; transform: PatchTransform } | undefined;
  let deltaSize: number | undefined;
  let fullSize: number | undefined;
  for (const transform of transforms) {
    progress('transform', 0, 1);
    const newT = transform === 'thumb2' ? thumb2Forward(newImage) : newImage;
    const oldT = transform === 'thumb2' && wantDelta ? thumb2Forward(oldImage) : oldImage;
    progress('transform', 1, 1);
    const candidates: { kind: PatchKind; body: Uint8Array }[] = [];
    if (wantDelta) {
      const body = encodeBody(oldT, newT, windowLog, depth, progress);
      if (body.length <= maxBodyLength(newImage.length)) candidates.push({ kind: 'delta', body });
    }
    // Coding a large image alone takes time and rarely wins when the delta is under 1/16 of it
    // (firmware compresses far less, unless mostly padding): `auto` skips it then.
    const deltaTiny =
      newImage.length > SKIP_FULL_ABOVE &&
      candidates.length > 0 &&
      candidates[0]!.body.length * 16 < newImage.length;
    if ((wantFull && !(kindOption === 'auto' && deltaTiny)) || candidates.length === 0) {
      candidates.push({
        kind: 'full',
        body: encodeBody(undefined, newT, windowLog, depth, progress),
      });
    }
    for (const { kind, body } of candidates) {
      const size = PATCH_HEADER_SIZE + body.length;
      if (kind === 'delta') deltaSize = Math.min(deltaSize ?? size, size);
      else fullSize = Math.min(fullSize ?? size, size);
      if (best !== undefined && best.patch.length <= size) continue;
      const header = encodePatchHeader({
        version: PATCH_FORMAT_VERSION,
        kind,
        transform,
        windowLog,
        oldSize: kind === 'delta' ? oldImage.length : 0,
        newSize: newImage.length,
        bodyLength: body.length,
        bodyCrc32: crc32(body),
        oldSha256: kind === 'delta' ? oldSha : new Uint8Array(32),
        newSha256: newSha,
      });
      const patch = new Uint8Array(size);
      patch.set(header);
      patch.set(body, PATCH_HEADER_SIZE);
      best = { patch, kind, transform };
    }
  }
  if (best === undefined) throw new BugError('diff produced no candidate patch');
  return { ...best, deltaSize, fullSize };
}

/** The decoder's limit on the body length (parsePatchHeader checks the same bound). */
function maxBodyLength(newSize: number): number {
  return 5 + 64 + newSize * 2;
}

/** Rough peak bytes the encoder allocates for these sizes (SA-IS, transforms, matcher, output). */
export function estimateMemory(oldSize: number, newSize: number, windowLog: number): number {
  return 10 * oldSize + 4 * newSize + 4 * 2 ** windowLog + (1 << 20);
}

function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest());
}

/** Share of even positions that look like BL/B.W above which large images get the transform. */
const THUMB2_DENSITY = 0.015;

function chooseTransforms(option: 'auto' | PatchTransform, newImage: Uint8Array): PatchTransform[] {
  if (option !== 'auto') return [option];
  // Only images that look like Thumb-2 code get the transform tried; small ones get both tried
  // and the smaller patch kept, large ones take the transform on the density alone.
  let hits = 0;
  for (let i = 0; i + 3 < newImage.length; i += 2) {
    if ((newImage[i + 1]! & 0xf8) === 0xf0 && (newImage[i + 3]! & 0x90) === 0x90) hits++;
  }
  if (hits / Math.max(1, newImage.length / 2) <= THUMB2_DENSITY) return ['none'];
  return newImage.length <= AUTO_TRANSFORM_LIMIT ? ['none', 'thumb2'] : ['thumb2'];
}

/** One bsdiff record: an approximate copy from the old image, then extra bytes, then a seek. */
interface DiffRecord {
  addLength: number;
  extraLength: number;
  /** Old cursor move after this record (applied only when more records follow). */
  seek: number;
}

/** A new match must beat the current alignment by this many bytes (bsdiff uses 8; 4 measured best on the corpus). */
const MATCH_ADVANTAGE = 4;

/**
 * Finds the records (bsdiff's scan). Returns the initial cursor and the records; empty records
 * are folded into the previous seek so every record covers at least one new byte.
 */
function findRecords(
  old: Uint8Array,
  nw: Uint8Array,
  sa: Int32Array,
  progress: (stage: DiffStage, done: number, total: number) => void,
): { initialCursor: number; records: DiffRecord[] } {
  const oldLen = old.length;
  const newLen = nw.length;
  const records: DiffRecord[] = [];
  let initialCursor = 0;
  let scan = 0;
  let len = 0;
  let pos = 0;
  let lastScan = 0;
  let lastPos = 0;
  let lastOffset = 0;
  let nextReport = 0;
  const found = { pos: 0, len: 0 };
  while (scan < newLen) {
    let oldScore = 0;
    scan += len;
    let scsc = scan;
    for (; scan < newLen; scan++) {
      searchSuffixArray(sa, old, nw, scan, found);
      pos = found.pos;
      len = found.len;
      for (; scsc < scan + len; scsc++) {
        if (scsc + lastOffset < oldLen && old[scsc + lastOffset] === nw[scsc]) oldScore++;
      }
      if ((len === oldScore && len !== 0) || len > oldScore + MATCH_ADVANTAGE) break;
      if (scan + lastOffset < oldLen && old[scan + lastOffset] === nw[scan]) oldScore--;
    }
    if (scan >= nextReport) {
      progress('match', scan, newLen);
      nextReport = scan + (1 << 20);
    }
    if (len === oldScore && scan !== newLen) continue;
    // Extend the previous match forwards and this one backwards while half the bytes agree.
    let lenF = 0;
    for (let i = 0, s = 0, sf = 0; lastScan + i < scan && lastPos + i < oldLen; ) {
      if (old[lastPos + i] === nw[lastScan + i]) s++;
      i++;
      if (s * 2 - i > sf * 2 - lenF) {
        sf = s;
        lenF = i;
      }
    }
    let lenB = 0;
    if (scan < newLen) {
      for (let i = 1, s = 0, sb = 0; scan >= lastScan + i && pos >= i; i++) {
        if (old[pos - i] === nw[scan - i]) s++;
        if (s * 2 - i > sb * 2 - lenB) {
          sb = s;
          lenB = i;
        }
      }
    }
    if (lastScan + lenF > scan - lenB) {
      const overlap = lastScan + lenF - (scan - lenB);
      let s = 0;
      let ss = 0;
      let lens = 0;
      for (let i = 0; i < overlap; i++) {
        if (nw[lastScan + lenF - overlap + i] === old[lastPos + lenF - overlap + i]) s++;
        if (nw[scan - lenB + i] === old[pos - lenB + i]) s--;
        if (s > ss) {
          ss = s;
          lens = i + 1;
        }
      }
      lenF += lens - overlap;
      lenB -= lens;
    }
    const extraLength = scan - lenB - (lastScan + lenF);
    const seek = pos - lenB - (lastPos + lenF);
    if (lenF + extraLength === 0) {
      // Nothing to output: only move the cursor.
      const previous = records.at(-1);
      if (previous) previous.seek += seek;
      else initialCursor += seek;
    } else {
      records.push({ addLength: lenF, extraLength, seek });
    }
    lastScan = scan - lenB;
    lastPos = pos - lenB;
    lastOffset = pos - scan;
  }
  return { initialCursor, records };
}

/** Longest match of nw[scan…] among old's suffixes (binary search keeping the common prefixes). */
function searchSuffixArray(
  sa: Int32Array,
  old: Uint8Array,
  nw: Uint8Array,
  scan: number,
  out: { pos: number; len: number },
): void {
  const n = sa.length;
  if (n === 0) {
    out.pos = 0;
    out.len = 0;
    return;
  }
  let lo = 0;
  let hi = n - 1;
  let lLo = commonLength(old, sa[lo]!, nw, scan, Number.MAX_SAFE_INTEGER);
  let lHi = commonLength(old, sa[hi]!, nw, scan, Number.MAX_SAFE_INTEGER);
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    const m = Math.min(lLo, lHi);
    const start = sa[mid]!;
    const l = m + commonLength(old, start + m, nw, scan + m, Number.MAX_SAFE_INTEGER);
    const oldEnded = start + l >= old.length;
    const newEnded = scan + l >= nw.length;
    if (!newEnded && (oldEnded || old[start + l]! < nw[scan + l]!)) {
      lo = mid;
      lLo = l;
    } else {
      hi = mid;
      lHi = l;
    }
  }
  if (lLo >= lHi) {
    out.pos = sa[lo]!;
    out.len = lLo;
  } else {
    out.pos = sa[hi]!;
    out.len = lHi;
  }
}

/**
 * Codes a body. With `old`, a delta: initial cursor, then records. Without, a full image: the
 * extra-region coding of the whole new image.
 */
function encodeBody(
  old: Uint8Array | undefined,
  nw: Uint8Array,
  windowLog: number,
  depth: number,
  progress: (stage: DiffStage, done: number, total: number) => void,
): Uint8Array {
  const rc = new RangeEncoder();
  const model = new PatchModel();
  const lz = new LzMatcher(nw, 2 ** windowLog, depth);
  const state: ExtraState = { lastDistance: 0, cursor: 0, old: undefined, sa: undefined };
  if (old === undefined) {
    encodeExtra(rc, model, lz, nw, 0, nw.length, state);
    return rc.finish();
  }
  if (nw.length === 0) return rc.finish();
  progress('index', 0, 1);
  const sa = suffixArray(old);
  progress('index', 1, 1);
  const { initialCursor, records } = findRecords(old, nw, sa, progress);
  state.old = old;
  state.sa = sa;
  let cursor = initialCursor;
  let out = 0;
  model.seek.encode(rc, initialCursor);
  for (let r = 0; r < records.length; r++) {
    const rec = records[r]!;
    model.addLength.encode(rc, rec.addLength);
    model.extraLength.encode(rc, rec.extraLength);
    for (let i = 0; i < rec.addLength; i++) {
      const c = cursor + i;
      const o = old[c]!;
      model.diff.encode(
        rc,
        out + i,
        c > 0 ? old[c - 1]! : 0,
        c + 1 < old.length ? old[c + 1]! : 0,
        (nw[out + i]! - o) & 0xff,
      );
    }
    cursor += rec.addLength;
    out += rec.addLength;
    state.cursor = cursor;
    encodeExtra(rc, model, lz, nw, out, out + rec.extraLength, state);
    out += rec.extraLength;
    if (r + 1 < records.length) {
      model.seek.encode(rc, rec.seek);
      cursor += rec.seek;
    }
    if ((r & 1023) === 0) progress('encode', out, nw.length);
  }
  progress('encode', nw.length, nw.length);
  return rc.finish();
}

/** What the extra-region coder carries between regions. */
interface ExtraState {
  lastDistance: number;
  /** Old cursor (reference of old-image copies); old image and its suffix array in a delta. */
  cursor: number;
  old: Uint8Array | undefined;
  sa: Int32Array | undefined;
}

/**
 * LZ77-parses nw[start, end) against the window (lazy matching, repeat distance) and, in a
 * delta, against the whole old image (exact copies the approximate matching left out).
 */
function encodeExtra(
  rc: RangeEncoder,
  model: PatchModel,
  lz: LzMatcher,
  nw: Uint8Array,
  start: number,
  end: number,
  state: ExtraState,
): void {
  let p = start;
  const found = { pos: 0, len: 0 };
  while (p < end) {
    if (state.old !== undefined && state.sa !== undefined) {
      searchSuffixArray(state.sa, state.old, nw, p, found);
      const oldLen = Math.min(found.len, end - p);
      if (oldLen >= MIN_OLD_MATCH) {
        lz.insertUpTo(p);
        const winLen = lz.find(p, end - p);
        if (oldLen > winLen) {
          model.encodeItem(rc, ITEM_OLD);
          model.oldMatchLength.encode(rc, oldLen - MIN_OLD_MATCH);
          model.oldOffset.encode(rc, found.pos - state.cursor);
          state.cursor = found.pos + oldLen;
          p += oldLen;
          continue;
        }
      }
    }
    lz.insertUpTo(p);
    const remaining = end - p;
    const rep =
      state.lastDistance > 0 && state.lastDistance <= p
        ? commonLength(nw, p - state.lastDistance, nw, p, remaining)
        : 0;
    let len = lz.find(p, remaining);
    let dist = lz.bestDistance;
    if (rep >= MIN_REP && rep + 2 >= len) {
      model.encodeItem(rc, ITEM_REP);
      model.repLength.encode(rc, rep - MIN_REP);
      p += rep;
      continue;
    }
    if (len >= MIN_MATCH && dist > 4096 && len < MIN_MATCH + 1) len = 0;
    if (len >= MIN_MATCH && p + 1 < end) {
      // Lazy: a literal now and a longer match next is often cheaper.
      lz.insertUpTo(p + 1);
      const nextLen = lz.find(p + 1, end - p - 1);
      if (nextLen > len + 1) len = 0;
      else {
        lz.find(p, remaining);
        len = lz.bestLength;
        dist = lz.bestDistance;
      }
    }
    if (len >= MIN_MATCH) {
      model.encodeItem(rc, ITEM_MATCH);
      model.matchLength.encode(rc, len - MIN_MATCH);
      model.distance.encode(rc, dist - 1);
      state.lastDistance = dist;
      p += len;
      continue;
    }
    model.encodeItem(rc, ITEM_LITERAL);
    model.literal.encode(rc, p, p > 0 ? nw[p - 1]! : 0, nw[p]!);
    p++;
  }
}
