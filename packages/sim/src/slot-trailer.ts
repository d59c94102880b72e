import { SIM_ERROR_CODES, type SimErrorCode } from './errors.js';
import { IMAGE_HEADER_SIZE, IMAGE_MAGIC, TLV_INFO_MAGIC, TLV_TYPES } from './image-format.js';
import type { RecordLog } from './record-log.js';

/** Record types of a slot trailer (see {@link RecordLog}). */
export const TRAILER_RECORDS = {
  /** Written by the agent after a verified write: "boot this image as a trial" (MCUboot's magic). */
  MAGIC: 1,
  /** The running image is confirmed (MCUboot's `image_ok`). */
  IMAGE_OK: 2,
  /** The bootloader started the image for the first time (MCUboot's `copy_done`). */
  COPY_DONE: 3,
  /** The bootloader started a trial boot. */
  ATTEMPT: 4,
  /** The bootloader refused the image for good; value = index of the reason in SIM_ERROR_CODES. */
  REJECTED: 5,
  /** The agent withdrew a pending mark before it was booted. */
  ABANDONED: 6,
} as const;

/** MCUboot's magic states: `good` = a trial was requested for THIS image. */
export const MAGIC_STATES = ['good', 'unset', 'bad'] as const;
export type MagicState = (typeof MAGIC_STATES)[number];

/** The trailer folded into flags for one image (identified by its tag). */
export interface TrailerState {
  readonly magic: MagicState;
  readonly imageOk: boolean;
  readonly copyDone: boolean;
  /** Trial boots started; garbage records count too (conservative: they can only hasten a revert). */
  readonly attempts: number;
  readonly rejected: SimErrorCode | null;
  readonly abandoned: boolean;
  /** No room for another record. */
  readonly full: boolean;
  /** Exactly one valid MAGIC for this image and nothing else: what `markPending` leaves. */
  readonly clean: boolean;
}

/**
 * Reads the trailer as it applies to the image whose tag is `tag`. Records carry the tag of the
 * image they speak about (the first 4 bytes of its SHA-256), so records left by an earlier image
 * in the same slot — including ones a torn erase failed to clear — never apply to a new image.
 */
export function readTrailer(log: RecordLog, tag: number): TrailerState {
  const entries = log.entries();
  let magic = false;
  let imageOk = false;
  let copyDone = false;
  let attempts = 0;
  let rejected: SimErrorCode | null = null;
  let abandoned = false;
  let used = 0;
  let garbage = 0;
  let foreign = 0;
  for (const e of entries) {
    if (e.kind === 'erased') continue;
    used++;
    if (e.kind === 'garbage') {
      garbage++;
      continue;
    }
    if (e.tag !== tag) {
      foreign++;
      continue;
    }
    if (e.type === TRAILER_RECORDS.MAGIC) magic = true;
    else if (e.type === TRAILER_RECORDS.IMAGE_OK) imageOk = true;
    else if (e.type === TRAILER_RECORDS.COPY_DONE) copyDone = true;
    else if (e.type === TRAILER_RECORDS.ATTEMPT) attempts++;
    else if (e.type === TRAILER_RECORDS.REJECTED) {
      rejected ??= SIM_ERROR_CODES[e.value] ?? 'SIM_BOOT_TRIAL_REVERTED';
    } else if (e.type === TRAILER_RECORDS.ABANDONED) abandoned = true;
    else foreign++;
  }
  const last = entries.length > 0 ? entries[entries.length - 1] : undefined;
  return {
    magic: magic ? 'good' : used === 0 ? 'unset' : 'bad',
    imageOk,
    copyDone,
    attempts: attempts + garbage,
    rejected,
    abandoned,
    full: last !== undefined && last.kind !== 'erased',
    clean: magic && used === 1 && garbage === 0 && foreign === 0,
  };
}

/** Index of a code in SIM_ERROR_CODES, the value of a REJECTED record. */
export function rejectionValue(code: SimErrorCode): number {
  return SIM_ERROR_CODES.indexOf(code);
}

/**
 * The tag that trailer records use for the image in a slot: the first 4 bytes of the SHA-256 TLV
 * as stored (not recomputed: a corrupted image keeps its tag, so the bootloader can reject it).
 * 0 when the slot holds no parseable image (erased, half-written).
 */
export function imageTag(
  read: (offset: number, length: number) => Uint8Array,
  limit: number,
): number {
  if (limit < IMAGE_HEADER_SIZE) return 0;
  const h = dv(read(0, IMAGE_HEADER_SIZE));
  if (h.getUint32(0, true) !== IMAGE_MAGIC) return 0;
  const unprotStart = IMAGE_HEADER_SIZE + h.getUint32(12, true) + h.getUint16(10, true);
  if (unprotStart + 4 > limit) return 0;
  const info = dv(read(unprotStart, 4));
  const size = info.getUint16(2, true);
  if (info.getUint16(0, true) !== TLV_INFO_MAGIC || unprotStart + size > limit) return 0;
  const area = read(unprotStart, size);
  const v = dv(area);
  for (let at = 4; at + 4 <= size; ) {
    const type = v.getUint16(at, true);
    const len = v.getUint16(at + 2, true);
    if (at + 4 + len > size) return 0;
    if (type === TLV_TYPES.SHA256 && len === 32) return v.getUint32(at + 4, false) || 1;
    at += 4 + len;
  }
  return 0;
}

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}
