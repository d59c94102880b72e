import { BugError } from '@updraft/core';
import { PowerCut } from './errors.js';
import { Prng } from './prng.js';

/** Values an erased flash cell reads as: NOR flash is usually 0xFF, some parts erase to 0x00. */
export const ERASED_VALUES = [0xff, 0x00] as const;
export type ErasedValue = (typeof ERASED_VALUES)[number];

/** Program granularity in bytes (internal MCU flash is typically 4, 8 or 16). */
export const WRITE_ALIGNMENTS = [4, 8, 16] as const;
export type WriteAlignment = (typeof WRITE_ALIGNMENTS)[number];

/** Where, relative to the Nth write/erase, the power dies. `torn` = in the middle of it. */
export const CUT_MODES = ['before', 'after', 'torn'] as const;
export type CutMode = (typeof CUT_MODES)[number];

/** True when `value` is a {@link CutMode}. */
export function isCutMode(value: unknown): value is CutMode {
  return typeof value === 'string' && (CUT_MODES as readonly string[]).includes(value);
}

/** Shape of the flash chip: sector sizes in address order (non-uniform layouts allowed). */
export interface FlashGeometry {
  readonly sectorSizes: readonly number[];
  /** Bytes; writes must start and end on this boundary. Default 8. */
  readonly writeAlign?: WriteAlignment;
  /** Default 0xFF. */
  readonly erasedValue?: ErasedValue;
}

/** One sector of the chip. */
export interface SectorInfo {
  readonly index: number;
  readonly offset: number;
  readonly size: number;
}

/** A planned power cut at a given flash operation (writes and erases, counted from 0). */
export interface PlannedCut {
  readonly opIndex: number;
  readonly mode: CutMode;
}

/** A range of flash whose writes are silently lost (a worn-out or defective region). */
export interface BadRegion {
  readonly offset: number;
  readonly length: number;
}

/** One write or erase, as seen by observers (op counting, logs, sweep reports). */
export interface FlashOp {
  readonly index: number;
  readonly kind: 'write' | 'erase';
  readonly offset: number;
  readonly length: number;
}

/** Read/write/erase counters. `ops` = writes + erases, the index space of power cuts. */
export interface FlashCounters {
  reads: number;
  writes: number;
  erases: number;
  ops: number;
  bytesRead: number;
  bytesWritten: number;
}

/**
 * A NOR-flash model that is stricter than hardware: a write must be aligned, in range and land
 * on erased cells; an erase must name a whole sector. Breaking a rule is a bug in the caller and
 * throws {@link BugError} at once. Injected faults (power cuts, torn writes/erases, bit flips,
 * bad regions) come from a seeded PRNG so every scenario replays exactly.
 *
 * The chip outlives reboots: the simulated device keeps one instance and the op counter runs
 * across its whole life, so a cut index names one exact point in an update.
 */
export class SimFlash {
  readonly size: number;
  readonly writeAlign: WriteAlignment;
  readonly erasedValue: ErasedValue;
  readonly sectors: readonly SectorInfo[];
  readonly counters: FlashCounters = {
    reads: 0,
    writes: 0,
    erases: 0,
    ops: 0,
    bytesRead: 0,
    bytesWritten: 0,
  };
  private readonly cells: Uint8Array;
  private readonly rng: Prng;
  private cuts: PlannedCut[] = [];
  private badRegions: BadRegion[] = [];
  private powered = true;
  private lastCut: PowerCut | undefined;
  private readonly observers = new Set<(op: FlashOp) => void>();
  private readonly writeProtected: BadRegion[] = [];

  constructor(geometry: FlashGeometry, options: { seed?: number } = {}) {
    if (geometry.sectorSizes.length === 0) throw new BugError('flash needs at least one sector');
    this.writeAlign = geometry.writeAlign ?? 8;
    this.erasedValue = geometry.erasedValue ?? 0xff;
    if (!(WRITE_ALIGNMENTS as readonly number[]).includes(this.writeAlign)) {
      throw new BugError(`unsupported write alignment ${this.writeAlign}`);
    }
    if (!(ERASED_VALUES as readonly number[]).includes(this.erasedValue)) {
      throw new BugError(`unsupported erased value ${this.erasedValue}`);
    }
    const sectors: SectorInfo[] = [];
    let offset = 0;
    for (const [index, size] of geometry.sectorSizes.entries()) {
      if (!Number.isInteger(size) || size <= 0 || size % this.writeAlign !== 0) {
        throw new BugError(`sector ${index} size ${size} is not a multiple of the write alignment`);
      }
      sectors.push({ index, offset, size });
      offset += size;
    }
    this.sectors = sectors;
    this.size = offset;
    this.cells = new Uint8Array(this.size).fill(this.erasedValue);
    this.rng = new Prng(options.seed ?? 1);
  }

  /** True until a planned cut fires; {@link powerOn} restores it. */
  get isPowered(): boolean {
    return this.powered;
  }

  /** The cut that stopped the current run, if any. */
  get lastPowerCut(): PowerCut | undefined {
    return this.lastCut;
  }

  /** Plans power cuts at absolute op indices (replaces earlier plans that have not fired). */
  planCuts(cuts: readonly PlannedCut[]): void {
    this.cuts = [...cuts].sort((a, b) => a.opIndex - b.opIndex);
  }

  /** Marks ranges whose writes are silently dropped (the write "succeeds", nothing changes). */
  setBadRegions(regions: readonly BadRegion[]): void {
    this.badRegions = [...regions];
  }

  /** Makes a range read-only for our code: writing or erasing it is a bug (factory slot). */
  protectRange(region: BadRegion): void {
    this.writeProtected.push(region);
  }

  /** Restores power after a cut (the harness "reboots"). Unfired planned cuts stay planned. */
  powerOn(): void {
    this.powered = true;
    this.lastCut = undefined;
  }

  /** Calls `fn` for each write and erase, after the op's index is assigned. Returns an unsubscriber. */
  observe(fn: (op: FlashOp) => void): () => void {
    this.observers.add(fn);
    return () => this.observers.delete(fn);
  }

  /** The sector containing `offset`. */
  sectorAt(offset: number): SectorInfo {
    this.checkRange(offset, 1, 'sectorAt');
    // Sectors are few (tens); a linear scan keeps this obviously right.
    for (const s of this.sectors) if (offset < s.offset + s.size) return s;
    throw new BugError(`no sector at ${offset}`);
  }

  /** Reads `length` bytes (a copy). */
  read(offset: number, length: number): Uint8Array {
    this.requirePower();
    this.checkRange(offset, length, 'read');
    this.counters.reads++;
    this.counters.bytesRead += length;
    return this.cells.slice(offset, offset + length);
  }

  /** True when every byte of the range reads as erased. Does not count as an op. */
  isErased(offset: number, length: number): boolean {
    this.checkRange(offset, length, 'isErased');
    for (let i = offset; i < offset + length; i++)
      if (this.cells[i] !== this.erasedValue) return false;
    return true;
  }

  /** Programs `data` at `offset`: aligned, in range, onto erased cells only. */
  write(offset: number, data: Uint8Array): void {
    this.requirePower();
    this.checkRange(offset, data.length, 'write');
    if (offset % this.writeAlign !== 0 || data.length % this.writeAlign !== 0) {
      throw new BugError(
        `misaligned write at ${offset} length ${data.length} (alignment ${this.writeAlign})`,
      );
    }
    this.checkNotProtected(offset, data.length, 'write');
    if (!this.isErased(offset, data.length)) {
      throw new BugError(`write to unerased flash at ${offset} length ${data.length}`);
    }
    const op = this.beginOp('write', offset, data.length);
    if (op.cut?.mode === 'before') this.fire(op.index);
    if (op.cut?.mode === 'torn') {
      this.tearWrite(offset, data);
      this.fire(op.index);
    }
    this.counters.writes++;
    this.counters.bytesWritten += data.length;
    if (!this.inBadRegion(offset, data.length)) this.program(offset, data);
    if (op.cut?.mode === 'after') this.fire(op.index);
  }

  /** Erases the whole sector that starts at `offset`. */
  eraseSector(offset: number): void {
    this.requirePower();
    const sector = this.sectorAt(offset);
    if (sector.offset !== offset) throw new BugError(`erase at ${offset} is not a sector start`);
    this.checkNotProtected(offset, sector.size, 'erase');
    const op = this.beginOp('erase', offset, sector.size);
    if (op.cut?.mode === 'before') this.fire(op.index);
    if (op.cut?.mode === 'torn') {
      this.tearErase(sector);
      this.fire(op.index);
    }
    this.counters.erases++;
    this.cells.fill(this.erasedValue, sector.offset, sector.offset + sector.size);
    if (op.cut?.mode === 'after') this.fire(op.index);
  }

  /** Erases every sector overlapping [offset, offset+length); the range must be sector-aligned. */
  eraseRange(offset: number, length: number): void {
    this.checkRange(offset, length, 'eraseRange');
    let at = offset;
    while (at < offset + length) {
      const s = this.sectorAt(at);
      if (s.offset !== at || s.offset + s.size > offset + length) {
        throw new BugError(`erase range ${offset}+${length} is not sector-aligned`);
      }
      this.eraseSector(at);
      at += s.size;
    }
  }

  /** Flips one stored bit (an injected fault: radiation, retention loss). Not an op. */
  flipBit(offset: number, bit: number): void {
    this.checkRange(offset, 1, 'flipBit');
    this.cells[offset] = (this.cells[offset] ?? 0) ^ (1 << (bit & 7));
  }

  /** Flips `count` random stored bits inside the range, from the flash's seeded PRNG. */
  flipRandomBits(offset: number, length: number, count: number): number[] {
    this.checkRange(offset, length, 'flipRandomBits');
    const flipped: number[] = [];
    for (let i = 0; i < count; i++) {
      const at = offset + this.rng.int(length);
      this.flipBit(at, this.rng.int(8));
      flipped.push(at);
    }
    return flipped;
  }

  /** Raw copy of the cells, for assertions and debugging (not an op, works without power). */
  snapshot(offset = 0, length = this.size - offset): Uint8Array {
    this.checkRange(offset, length, 'snapshot');
    return this.cells.slice(offset, offset + length);
  }

  /** Writes raw bytes with no rules and no op count: manufacturing (factory image, provisioning). */
  provision(offset: number, data: Uint8Array): void {
    this.checkRange(offset, data.length, 'provision');
    this.cells.set(data, offset);
  }

  private beginOp(kind: FlashOp['kind'], offset: number, length: number) {
    const index = this.counters.ops++;
    for (const fn of this.observers) fn({ index, kind, offset, length });
    let cut: PlannedCut | undefined;
    while (this.cuts.length > 0 && (this.cuts[0]?.opIndex ?? Infinity) <= index) {
      const next = this.cuts.shift();
      if (next?.opIndex === index) cut = next;
    }
    return { index, cut };
  }

  private fire(index: number): never {
    this.powered = false;
    this.lastCut = new PowerCut(index);
    throw this.lastCut;
  }

  private requirePower(): void {
    if (!this.powered) throw this.lastCut ?? new PowerCut(this.counters.ops);
  }

  // NOR programs by clearing bits (or setting them, for 0x00-erased parts): the result is the
  // AND (OR) of old and new. Onto erased cells that equals the new data.
  private program(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) {
      const old = this.cells[offset + i] ?? this.erasedValue;
      const v = data[i] ?? this.erasedValue;
      this.cells[offset + i] = this.erasedValue === 0xff ? old & v : old | v;
    }
  }

  // A torn write: the words before the tear point were programmed, the word being programmed
  // holds random bits, the rest is untouched.
  private tearWrite(offset: number, data: Uint8Array): void {
    if (this.inBadRegion(offset, data.length)) return;
    const words = data.length / this.writeAlign;
    const tear = this.rng.int(words);
    this.program(offset, data.subarray(0, tear * this.writeAlign));
    const noise = this.rng.fill(new Uint8Array(this.writeAlign));
    this.cells.set(noise, offset + tear * this.writeAlign);
  }

  // A torn erase: each word is independently still old, already erased, or random bits.
  private tearErase(sector: SectorInfo): void {
    for (let at = sector.offset; at < sector.offset + sector.size; at += this.writeAlign) {
      const pick = this.rng.int(3);
      if (pick === 1) this.cells.fill(this.erasedValue, at, at + this.writeAlign);
      if (pick === 2) this.cells.set(this.rng.fill(new Uint8Array(this.writeAlign)), at);
    }
  }

  private inBadRegion(offset: number, length: number): boolean {
    return this.badRegions.some((r) => offset < r.offset + r.length && r.offset < offset + length);
  }

  private checkNotProtected(offset: number, length: number, what: string): void {
    for (const r of this.writeProtected) {
      if (offset < r.offset + r.length && r.offset < offset + length) {
        throw new BugError(`${what} into write-protected flash at ${offset}`);
      }
    }
  }

  private checkRange(offset: number, length: number, what: string): void {
    if (
      !Number.isInteger(offset) ||
      !Number.isInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > this.size
    ) {
      throw new BugError(`${what} out of range: ${offset}+${length} (flash size ${this.size})`);
    }
  }
}
