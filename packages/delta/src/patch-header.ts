/**
 * The fixed 96-byte patch header (docs/delta-format.md, "Header"). All integers little-endian.
 */
import { crc32 } from 'node:zlib';
import { DeltaError, malformed } from './errors.js';

/** "UDLT": Updraft delta. */
export const PATCH_MAGIC = Uint8Array.of(0x55, 0x44, 0x4c, 0x54);
export const PATCH_FORMAT_VERSION = 1;
export const PATCH_HEADER_SIZE = 96;

/** `delta`: new image from the old one plus the body; `full`: the body alone is the new image. */
export const PATCH_KINDS = ['full', 'delta'] as const;
export type PatchKind = (typeof PATCH_KINDS)[number];
export function isPatchKind(value: unknown): value is PatchKind {
  return typeof value === 'string' && (PATCH_KINDS as readonly string[]).includes(value);
}

/** Instruction-aware transforms applied to both images before diffing. */
export const PATCH_TRANSFORMS = ['none', 'thumb2'] as const;
export type PatchTransform = (typeof PATCH_TRANSFORMS)[number];
export function isPatchTransform(value: unknown): value is PatchTransform {
  return typeof value === 'string' && (PATCH_TRANSFORMS as readonly string[]).includes(value);
}

/** Largest image (old or new) a patch may describe: 1 GiB. */
export const MAX_IMAGE_SIZE = 1 << 30;
/** Window (bytes of recent output kept for matches) is 2^windowLog, 10 ≤ windowLog ≤ 20. */
export const MIN_WINDOW_LOG = 10;
export const MAX_WINDOW_LOG = 20;

/** What the header says about a patch. */
export interface PatchHeader {
  readonly version: number;
  readonly kind: PatchKind;
  readonly transform: PatchTransform;
  readonly windowLog: number;
  readonly oldSize: number;
  readonly newSize: number;
  readonly bodyLength: number;
  readonly bodyCrc32: number;
  /** SHA-256 of the old image (all zero for a `full` patch). */
  readonly oldSha256: Uint8Array;
  readonly newSha256: Uint8Array;
}

/** Serialises a header (the inverse of {@link parsePatchHeader}). */
export function encodePatchHeader(h: PatchHeader): Uint8Array {
  const out = new Uint8Array(PATCH_HEADER_SIZE);
  const view = new DataView(out.buffer);
  out.set(PATCH_MAGIC, 0);
  out[4] = h.version;
  out[5] = PATCH_KINDS.indexOf(h.kind);
  out[6] = PATCH_TRANSFORMS.indexOf(h.transform);
  out[7] = h.windowLog;
  view.setUint32(8, h.oldSize, true);
  view.setUint32(12, h.newSize, true);
  view.setUint32(16, h.bodyLength, true);
  view.setUint32(20, h.bodyCrc32, true);
  out.set(h.oldSha256, 24);
  out.set(h.newSha256, 56);
  view.setUint32(88, 0, true);
  view.setUint32(92, crc32(out.subarray(0, 92)), true);
  return out;
}

/** Throws `DELTA_PATCH_MALFORMED` unless `bytes` (at least 4 of them) start with the magic. */
export function checkPatchMagic(bytes: Uint8Array): void {
  if (!PATCH_MAGIC.every((b, i) => bytes[i] === b))
    throw malformed('not an Updraft patch (bad magic)');
}

/**
 * Parses and checks a header: magic, version, CRC, every field's range. Throws
 * `DELTA_PATCH_MALFORMED`, `DELTA_PATCH_UNSUPPORTED` or `DELTA_PATCH_TRUNCATED`.
 */
export function parsePatchHeader(bytes: Uint8Array): PatchHeader {
  if (bytes.length < PATCH_HEADER_SIZE) {
    if (bytes.length >= 4) checkPatchMagic(bytes);
    throw new DeltaError('DELTA_PATCH_TRUNCATED', 'patch is shorter than its header', {
      details: { length: bytes.length, headerSize: PATCH_HEADER_SIZE },
    });
  }
  checkPatchMagic(bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, PATCH_HEADER_SIZE);
  const version = bytes[4]!;
  if (version !== PATCH_FORMAT_VERSION) {
    throw new DeltaError(
      'DELTA_PATCH_UNSUPPORTED',
      `patch format version ${version} is not supported`,
      {
        details: { version, supported: PATCH_FORMAT_VERSION },
      },
    );
  }
  if (view.getUint32(92, true) !== crc32(bytes.subarray(0, 92))) {
    throw malformed('patch header checksum does not match');
  }
  const kind = PATCH_KINDS[bytes[5]!];
  const transform = PATCH_TRANSFORMS[bytes[6]!];
  if (kind === undefined) {
    throw new DeltaError('DELTA_PATCH_UNSUPPORTED', `unknown patch kind ${bytes[5]}`);
  }
  if (transform === undefined) {
    throw new DeltaError('DELTA_PATCH_UNSUPPORTED', `unknown transform ${bytes[6]}`);
  }
  const windowLog = bytes[7]!;
  if (windowLog < MIN_WINDOW_LOG || windowLog > MAX_WINDOW_LOG) {
    throw malformed(`window log ${windowLog} outside ${MIN_WINDOW_LOG}..${MAX_WINDOW_LOG}`);
  }
  const oldSize = view.getUint32(8, true);
  const newSize = view.getUint32(12, true);
  const bodyLength = view.getUint32(16, true);
  if (oldSize > MAX_IMAGE_SIZE || newSize > MAX_IMAGE_SIZE) {
    throw malformed('image size over the 1 GiB limit', { oldSize, newSize });
  }
  if (kind === 'full' && oldSize !== 0) throw malformed('a full patch must have old size 0');
  if (view.getUint32(88, true) !== 0) throw malformed('reserved header field is not zero');
  // A body of 5 bytes is the shortest range-coded stream; 2 bytes per output byte is far above
  // what any encoder emits for its worst case (a literal costs at most ~9 bits + item bits).
  if (bodyLength < 5 || bodyLength > 5 + 64 + newSize * 2) {
    throw malformed('body length out of range', { bodyLength, newSize });
  }
  return {
    version,
    kind,
    transform,
    windowLog,
    oldSize,
    newSize,
    bodyLength,
    bodyCrc32: view.getUint32(20, true),
    oldSha256: bytes.slice(24, 56),
    newSha256: bytes.slice(56, 88),
  };
}
