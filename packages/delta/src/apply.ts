/**
 * The decoder: a streaming `apply` whose memory is a constant set by the patch's window (see
 * {@link applyMemoryBytes}), independent of the image sizes. The old image is read by random
 * access in blocks of {@link OLD_BLOCK_SIZE} bytes; the new image is produced strictly in order.
 *
 * Power cuts: apply keeps no state outside memory and never writes the old image, so after an
 * interruption the caller restarts it from the beginning (same old image, same patch).
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { DeltaError, malformed } from './errors.js';
import {
  checkPatchMagic,
  PATCH_HEADER_SIZE,
  type PatchHeader,
  parsePatchHeader,
} from './patch-header.js';
import {
  ITEM_LITERAL,
  ITEM_MATCH,
  ITEM_OLD,
  MIN_MATCH,
  MIN_OLD_MATCH,
  MIN_REP,
  PatchModel,
} from './patch-model.js';
import { RangeDecoder } from './range-coder.js';
import { Thumb2Inverse, thumb2ForwardRange } from './thumb2-transform.js';

/**
 * Reads `length` bytes of the old image at `offset` (e.g. from the device's active slot). `apply`
 * is done with the returned bytes before it calls again, so the callback may return a view of one
 * reused buffer (recommended: no allocation per read).
 */
export type ReadOld = (offset: number, length: number) => Promise<Uint8Array>;

/** A patch as a stream of chunks (a Node readable stream, a fetch body, an array of buffers). */
export type PatchSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** Bytes of the old image the decoder keeps at once (plus 8 bytes of context on each side). */
export const OLD_BLOCK_SIZE = 4096;
/** Largest chunk `apply` yields. */
export const OUTPUT_CHUNK_SIZE = 16384;
/** Compressed input buffer. */
export const INPUT_BUFFER_SIZE = 16384;
/** Old-image read size while checking the base digest. */
const HASH_READ_SIZE = 16384;
/** Input bytes guaranteed before each unit of decoding (one unit reads at most 80 bits). */
const INPUT_MARGIN = 32;
/** Old bytes read beyond a block on each side: the transform's context plus the diff model's. */
const OLD_CONTEXT = 16;

/** Options of {@link apply}. */
export interface ApplyOptions {
  /** Refuse patches whose new image is larger (default: the format's 1 GiB limit). */
  readonly maxNewSize?: number;
  /** Called with the header once it is parsed and the base checked, before any output. */
  readonly onHeader?: (header: PatchHeader) => void;
  /** Called after each yielded chunk with bytes produced so far and the total. */
  readonly onProgress?: (done: number, total: number) => void;
  /** Filled in as apply runs: what it allocated and the largest read it made. */
  readonly stats?: ApplyStats;
  /**
   * Yield views of one internal buffer instead of fresh copies: no allocation per chunk, but each
   * chunk is valid only until the consumer asks for the next one (write it out first).
   */
  readonly reuseOutput?: boolean;
}

/** Measurements of one apply run (for tests and benchmarks). */
export interface ApplyStats {
  /** Bytes of buffers and models the decoder allocated. */
  allocatedBytes: number;
  /** Largest `readOld` length requested. */
  largestOldRead: number;
}

/** Bytes of the typed arrays inside a value (models are plain objects of typed arrays). */
function typedArrayBytes(value: unknown, seen = new Set<unknown>()): number {
  if (ArrayBuffer.isView(value)) return value.byteLength;
  if (typeof value !== 'object' || value === null || seen.has(value)) return 0;
  seen.add(value);
  let sum = 0;
  for (const v of Object.values(value)) sum += typedArrayBytes(v, seen);
  return sum;
}

/** Bytes of probability tables, mixer weights and small state in a {@link PatchModel}. */
export const MODEL_BYTES = typedArrayBytes(new PatchModel());

/**
 * Memory the decoder allocates for a patch with this window: the window, the input, output and
 * old-block buffers and the models (docs/delta-format.md, "Decoder memory").
 */
export function applyMemoryBytes(windowLog: number): number {
  return (
    2 ** windowLog +
    INPUT_BUFFER_SIZE +
    OUTPUT_CHUNK_SIZE +
    2 * (OLD_BLOCK_SIZE + 2 * OLD_CONTEXT) +
    MODEL_BYTES
  );
}

/**
 * Applies a patch. Yields the new image in order, in chunks of at most
 * {@link OUTPUT_CHUNK_SIZE} bytes. The old image's SHA-256 is checked before the first chunk
 * (`DELTA_BASE_MISMATCH`), the body's CRC and the new image's SHA-256 before the last one
 * (`DELTA_PATCH_MALFORMED`, `DELTA_RESULT_MISMATCH`), so a consumer that stops at the first error
 * never holds a complete wrong image. Write the output somewhere temporary until the iteration
 * completes.
 *
 * @example
 * const out = createWriteStream('new.tmp');
 * for await (const chunk of apply((o, n) => readSlot(o, n), createReadStream('p.udelta'))) out.write(chunk);
 */
export async function* apply(
  readOld: ReadOld,
  patch: PatchSource,
  options: ApplyOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  const input = new PatchInput(patch);
  try {
    const header = parsePatchHeader(await input.readHeader());
    const maxNewSize = options.maxNewSize ?? Number.POSITIVE_INFINITY;
    if (header.newSize > maxNewSize) {
      throw new DeltaError('DELTA_INPUT_TOO_LARGE', 'new image larger than allowed', {
        details: { newSize: header.newSize, maxNewSize },
      });
    }
    const stats = options.stats;
    if (header.kind === 'delta') await checkBase(readOld, header, stats);
    options.onHeader?.(header);
    const decoder = new BodyDecoder(header);
    if (stats) stats.allocatedBytes = applyMemoryBytes(header.windowLog);
    input.beginBody(header.bodyLength);
    const hash = createHash('sha256');
    let produced = 0;
    for (;;) {
      const need = decoder.run();
      if (need === NEED_INPUT) {
        await input.fill(decoder.rc);
      } else if (need === NEED_OLD) {
        await decoder.loadOld(readOld, stats);
      } else if (need === NEED_OUTPUT) {
        const chunk = decoder.takeOutput(false, options.reuseOutput === true);
        hash.update(chunk);
        produced += chunk.length;
        yield chunk;
        options.onProgress?.(produced, header.newSize);
      } else {
        break;
      }
    }
    const last = decoder.takeOutput(true, false);
    hash.update(last);
    produced += last.length;
    if (decoder.rc.overread > 0) throw malformed('body ends in the middle of a symbol');
    if (decoder.rc.pos !== decoder.rc.end || !input.bodyComplete) {
      throw malformed('bytes left over after the last symbol of the body');
    }
    await input.expectEnd();
    if (input.bodyCrc !== header.bodyCrc32) throw malformed('body checksum does not match');
    const digest = new Uint8Array(hash.digest());
    if (produced !== header.newSize || !equalBytes(digest, header.newSha256)) {
      throw new DeltaError(
        'DELTA_RESULT_MISMATCH',
        'the patched image does not match the digest in the patch',
      );
    }
    yield last;
    options.onProgress?.(produced, header.newSize);
  } finally {
    await input.close();
  }
}

/**
 * Applies a patch held in memory to an old image held in memory (a convenience for servers,
 * tests and small images; devices use {@link apply}).
 */
export async function applyToBuffer(oldImage: Uint8Array, patch: Uint8Array): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let length = 0;
  const readOld: ReadOld = async (offset, n) => oldImage.subarray(offset, offset + n);
  for await (const chunk of apply(readOld, [patch])) {
    parts.push(chunk);
    length += chunk.length;
  }
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

async function checkBase(readOld: ReadOld, header: PatchHeader, stats?: ApplyStats): Promise<void> {
  const hash = createHash('sha256');
  for (let offset = 0; offset < header.oldSize; offset += HASH_READ_SIZE) {
    const n = Math.min(HASH_READ_SIZE, header.oldSize - offset);
    hash.update(await readOldChecked(readOld, offset, n, stats));
  }
  if (!equalBytes(new Uint8Array(hash.digest()), header.oldSha256)) {
    throw new DeltaError(
      'DELTA_BASE_MISMATCH',
      'the old image is not the one this patch was made from',
      {
        details: { oldSize: header.oldSize },
      },
    );
  }
}

async function readOldChecked(
  readOld: ReadOld,
  offset: number,
  length: number,
  stats?: ApplyStats,
): Promise<Uint8Array> {
  if (stats && length > stats.largestOldRead) stats.largestOldRead = length;
  let data: unknown;
  try {
    data = await readOld(offset, length);
  } catch (cause) {
    throw new DeltaError('DELTA_OLD_READ_FAILED', 'reading the old image failed', {
      cause,
      details: { offset, length },
    });
  }
  if (!(data instanceof Uint8Array) || data.length !== length) {
    throw new DeltaError(
      'DELTA_OLD_READ_FAILED',
      'reading the old image returned the wrong length',
      {
        details: { offset, length, got: data instanceof Uint8Array ? data.length : typeof data },
      },
    );
  }
  return data;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Pulls patch bytes from the source into the decoder's fixed input buffer. */
class PatchInput {
  private readonly iterator: Iterator<Uint8Array> | AsyncIterator<Uint8Array>;
  private chunk: Uint8Array = new Uint8Array(0);
  private chunkPos = 0;
  private ended = false;
  private bodyRemaining = 0;
  bodyCrc = 0;

  constructor(source: PatchSource) {
    const asyncIt = (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator];
    this.iterator = asyncIt
      ? asyncIt.call(source)
      : (source as Iterable<Uint8Array>)[Symbol.iterator]();
  }

  get bodyComplete(): boolean {
    return this.bodyRemaining === 0;
  }

  /** Next non-empty chunk, or false at the end of the source. */
  private async pull(): Promise<boolean> {
    while (this.chunkPos >= this.chunk.length) {
      if (this.ended) return false;
      const r = await this.iterator.next();
      if (r.done) {
        this.ended = true;
        return false;
      }
      if (!(r.value instanceof Uint8Array))
        throw malformed('patch source yielded a non-binary chunk');
      this.chunk = r.value;
      this.chunkPos = 0;
    }
    return true;
  }

  async readHeader(): Promise<Uint8Array> {
    const out = new Uint8Array(PATCH_HEADER_SIZE);
    let n = 0;
    while (n < PATCH_HEADER_SIZE && (await this.pull())) {
      const take = Math.min(PATCH_HEADER_SIZE - n, this.chunk.length - this.chunkPos);
      out.set(this.chunk.subarray(this.chunkPos, this.chunkPos + take), n);
      this.chunkPos += take;
      n += take;
      // Fail fast on a wrong magic rather than waiting for 96 bytes.
      if (n >= 4 && n < PATCH_HEADER_SIZE) checkPatchMagic(out);
    }
    return out.subarray(0, n);
  }

  beginBody(length: number): void {
    this.bodyRemaining = length;
  }

  /** Compacts the decoder's buffer and refills it from the source (body bytes only). */
  async fill(rc: RangeDecoder): Promise<void> {
    rc.buf.copyWithin(0, rc.pos, rc.end);
    rc.end -= rc.pos;
    rc.pos = 0;
    while (rc.end < rc.buf.length && this.bodyRemaining > 0) {
      if (!(await this.pull())) {
        throw new DeltaError('DELTA_PATCH_TRUNCATED', 'the patch ends before its body does', {
          details: { missingBytes: this.bodyRemaining },
        });
      }
      const take = Math.min(
        rc.buf.length - rc.end,
        this.chunk.length - this.chunkPos,
        this.bodyRemaining,
      );
      const piece = this.chunk.subarray(this.chunkPos, this.chunkPos + take);
      rc.buf.set(piece, rc.end);
      this.bodyCrc = crc32(piece, this.bodyCrc);
      rc.end += take;
      this.chunkPos += take;
      this.bodyRemaining -= take;
    }
    if (this.bodyRemaining === 0) rc.inputComplete = true;
  }

  /** Throws when the source has bytes after the body. */
  async expectEnd(): Promise<void> {
    if (await this.pull()) throw malformed('bytes after the end of the patch');
  }

  async close(): Promise<void> {
    if (!this.ended) {
      this.ended = true;
      await this.iterator.return?.();
    }
  }
}

const NEED_INPUT = 0;
const NEED_OLD = 1;
const NEED_OUTPUT = 2;
const DONE = 3;

const S_START = 0;
const S_FIRST_SEEK = 1;
const S_RECORD = 2;
const S_DIFF = 3;
const S_EXTRA = 4;
const S_SEEK = 5;
const S_DONE = 6;

/** The body's state machine; resumable after each unit so input and old reads can be awaited. */
class BodyDecoder {
  readonly rc = new RangeDecoder(new Uint8Array(INPUT_BUFFER_SIZE));
  private readonly model = new PatchModel();
  private readonly window: Uint8Array;
  private readonly windowMask: number;
  private readonly out = new Uint8Array(OUTPUT_CHUNK_SIZE);
  private outLength = 0;
  /** Image offset of out[0]. */
  private outBase = 0;
  /** Leading bytes of `out` handed to the consumer and not yet dropped. */
  private handedOut = 0;
  private outPos = 0;
  private readonly inverse: Thumb2Inverse | undefined;
  private readonly oldRaw = new Uint8Array(OLD_BLOCK_SIZE + 2 * OLD_CONTEXT);
  private readonly oldT: Uint8Array;
  private oldReadStart = 0;
  private oldBlockStart = 0;
  private oldBlockEnd = 0;
  private state = S_START;
  private cursor = 0;
  private addRemaining = 0;
  private extraRemaining = 0;
  private matchRemaining = 0;
  private matchDistance = 0;
  private lastDistance = 0;
  /** Old-image copies inside extra regions: reference position, pending copy. */
  private oldRef = 0;
  private oldCopyPosition = 0;
  private oldCopyRemaining = 0;
  /** Old position the next {@link BodyDecoder.loadOld} must cover. */
  private oldWanted = 0;

  constructor(private readonly header: PatchHeader) {
    this.window = new Uint8Array(2 ** header.windowLog);
    this.windowMask = this.window.length - 1;
    this.inverse = header.transform === 'thumb2' ? new Thumb2Inverse() : undefined;
    this.oldT = this.inverse ? new Uint8Array(this.oldRaw.length) : this.oldRaw;
  }

  private haveInput(): boolean {
    if (this.rc.code >= this.rc.range) throw malformed('range decoder state is invalid');
    // A valid body is read exactly to its end: reading past it means garbage, so stop now
    // rather than decode up to newSize bytes of it.
    if (this.rc.overread > 0) throw malformed('body ends in the middle of a symbol');
    return this.rc.end - this.rc.pos >= INPUT_MARGIN || this.rc.inputComplete;
  }

  private emit(byte: number): void {
    this.window[this.outPos & this.windowMask] = byte;
    this.out[this.outLength++] = byte;
    this.outPos++;
  }

  /** Runs until it needs something; returns what. */
  run(): number {
    this.compact();
    const h = this.header;
    const rc = this.rc;
    const model = this.model;
    for (;;) {
      switch (this.state) {
        case S_START: {
          if (rc.end - rc.pos < 5 + INPUT_MARGIN && !rc.inputComplete) return NEED_INPUT;
          if (!rc.init()) throw malformed('body does not start like a range-coded stream');
          if (h.newSize === 0) this.state = S_DONE;
          else if (h.kind === 'full') {
            this.extraRemaining = h.newSize;
            this.state = S_EXTRA;
          } else this.state = S_FIRST_SEEK;
          break;
        }
        case S_FIRST_SEEK:
        case S_SEEK: {
          if (!this.haveInput()) return NEED_INPUT;
          const seek = model.seek.decode(rc);
          const cursor = this.cursor + seek;
          if (!Number.isFinite(seek) || cursor < 0 || cursor > h.oldSize) {
            throw malformed('old-image cursor moves out of the old image', { cursor });
          }
          this.cursor = cursor;
          this.state = S_RECORD;
          break;
        }
        case S_RECORD: {
          if (!this.haveInput()) return NEED_INPUT;
          const add = model.addLength.decode(rc);
          const extra = model.extraLength.decode(rc);
          if (
            add < 0 ||
            extra < 0 ||
            add + extra === 0 ||
            this.outPos + add + extra > h.newSize ||
            this.cursor + add > h.oldSize
          ) {
            throw malformed('record lengths out of range', { add, extra, at: this.outPos });
          }
          this.addRemaining = add;
          this.extraRemaining = extra;
          this.state = S_DIFF;
          break;
        }
        case S_DIFF: {
          while (this.addRemaining > 0) {
            const c = this.cursor;
            if (c < this.oldBlockStart || c >= this.oldBlockEnd) {
              this.oldWanted = c;
              return NEED_OLD;
            }
            if (!this.haveInput()) return NEED_INPUT;
            if (this.outLength >= OUTPUT_CHUNK_SIZE) return NEED_OUTPUT;
            const at = c - this.oldReadStart;
            const o = this.oldT[at]!;
            const prev = c > 0 ? this.oldT[at - 1]! : 0;
            const next = c + 1 < h.oldSize ? this.oldT[at + 1]! : 0;
            this.emit((o + model.diff.decode(rc, this.outPos, prev, next)) & 0xff);
            this.cursor = c + 1;
            this.addRemaining--;
          }
          this.oldRef = this.cursor;
          this.state = S_EXTRA;
          break;
        }
        case S_EXTRA: {
          while (this.extraRemaining > 0) {
            if (this.outLength >= OUTPUT_CHUNK_SIZE) return NEED_OUTPUT;
            if (this.oldCopyRemaining > 0) {
              const q = this.oldCopyPosition;
              if (q < this.oldBlockStart || q >= this.oldBlockEnd) {
                this.oldWanted = q;
                return NEED_OLD;
              }
              const n = Math.min(
                this.oldCopyRemaining,
                OUTPUT_CHUNK_SIZE - this.outLength,
                this.oldBlockEnd - q,
              );
              const from = q - this.oldReadStart;
              for (let k = 0; k < n; k++) this.emit(this.oldT[from + k]!);
              this.oldCopyPosition += n;
              this.oldCopyRemaining -= n;
              this.extraRemaining -= n;
              continue;
            }
            if (this.matchRemaining > 0) {
              const n = Math.min(this.matchRemaining, OUTPUT_CHUNK_SIZE - this.outLength);
              const d = this.matchDistance;
              for (let k = 0; k < n; k++)
                this.emit(this.window[(this.outPos - d) & this.windowMask]!);
              this.matchRemaining -= n;
              this.extraRemaining -= n;
              continue;
            }
            if (!this.haveInput()) return NEED_INPUT;
            const kind = model.decodeItem(rc);
            if (kind === ITEM_LITERAL) {
              const prev = this.outPos > 0 ? this.window[(this.outPos - 1) & this.windowMask]! : 0;
              this.emit(model.literal.decode(rc, this.outPos, prev));
              this.extraRemaining--;
              continue;
            }
            if (kind === ITEM_OLD) {
              const length = model.oldMatchLength.decode(rc) + MIN_OLD_MATCH;
              const position = this.oldRef + model.oldOffset.decode(rc);
              if (
                h.kind !== 'delta' ||
                length < MIN_OLD_MATCH ||
                length > this.extraRemaining ||
                !(position >= 0 && position + length <= h.oldSize)
              ) {
                throw malformed('old-image copy out of range', {
                  length,
                  position,
                  at: this.outPos,
                });
              }
              this.oldCopyPosition = position;
              this.oldCopyRemaining = length;
              this.oldRef = position + length;
              continue;
            }
            let length: number;
            if (kind === ITEM_MATCH) {
              length = model.matchLength.decode(rc) + MIN_MATCH;
              const distance = model.distance.decode(rc) + 1;
              if (distance < 1 || distance > this.outPos || distance > this.window.length) {
                throw malformed('match distance out of range', { distance, at: this.outPos });
              }
              this.lastDistance = distance;
              if (length < MIN_MATCH) throw malformed('match length out of range');
            } else {
              length = model.repLength.decode(rc) + MIN_REP;
              if (this.lastDistance === 0 || length < MIN_REP)
                throw malformed('repeat without a match');
            }
            if (length > this.extraRemaining) {
              throw malformed('match runs past its region', { length, at: this.outPos });
            }
            this.matchDistance = this.lastDistance;
            this.matchRemaining = length;
          }
          this.state = this.outPos === h.newSize ? S_DONE : S_SEEK;
          break;
        }
        default:
          return DONE;
      }
    }
  }

  /** Reads (and transforms) the old block holding the cursor. */
  async loadOld(readOld: ReadOld, stats?: ApplyStats): Promise<void> {
    const n = this.header.oldSize;
    const start = this.oldWanted - (this.oldWanted % OLD_BLOCK_SIZE);
    const end = Math.min(n, start + OLD_BLOCK_SIZE);
    const readStart = Math.max(0, start - OLD_CONTEXT);
    const readEnd = Math.min(n, end + OLD_CONTEXT);
    const data = await readOldChecked(readOld, readStart, readEnd - readStart, stats);
    this.oldRaw.set(data);
    if (this.oldT !== this.oldRaw)
      // The diff model reads one byte either side of the cursor: transform those too.
      thumb2ForwardRange(
        this.oldRaw,
        this.oldT,
        readStart,
        Math.max(0, start - 1),
        Math.min(n, end + 1),
        n,
      );
    this.oldReadStart = readStart;
    this.oldBlockStart = start;
    this.oldBlockEnd = end;
  }

  /**
   * Restores (inverse transform) and hands out the finished output bytes: a copy, or with `view`
   * a view of the buffer whose compaction waits until the decoder runs again.
   */
  takeOutput(atEnd: boolean, view: boolean): Uint8Array {
    this.compact();
    const final = this.inverse
      ? this.inverse.restore(this.out, this.outBase, this.outLength, atEnd)
      : this.outLength;
    this.handedOut = final;
    if (view) return this.out.subarray(0, final);
    const chunk = this.out.slice(0, final);
    this.compact();
    return chunk;
  }

  /** Drops the bytes last handed out, moving the not-yet-final tail to the front. */
  private compact(): void {
    const n = this.handedOut;
    if (n === 0) return;
    this.out.copyWithin(0, n, this.outLength);
    this.outLength -= n;
    this.outBase += n;
    this.handedOut = 0;
  }
}
