/**
 * One region of storage that holds a whole component image: a flash partition on a
 * microcontroller, a file or a block device on Linux.
 *
 * The contract is the strict one of NOR flash, so one agent works on every backend:
 * - a byte can only be written after the sector that holds it was erased (the simulator throws
 *   `BugError` on a write to unerased memory; a file backend may be more lenient);
 * - `write` offsets and lengths are multiples of {@link Slot.writeAlign};
 * - `erase` ranges start and end on sector boundaries (see {@link Slot.sectors}).
 * The agent therefore erases a sector, then fills it with aligned writes, padding the last write
 * with {@link Slot.erasedValue}.
 */
export interface Slot {
  /** Stable name for logs and the journal (`a`, `b`, `factory`, `radio-b`, …). */
  readonly name: string;
  /** Usable bytes. An image larger than this is refused before anything is written. */
  readonly size: number;
  /** Write granularity in bytes (1, 4, 8 or 16 on typical NOR flash). */
  readonly writeAlign: number;
  /** Value of an erased byte (0xff on NOR flash; some parts erase to 0x00). */
  readonly erasedValue: number;
  /**
   * The erase units, in order, covering `[0, size)` without gaps; offsets are slot-relative.
   * Layouts may be non-uniform (e.g. 4 × 16 KiB then 128 KiB sectors).
   */
  readonly sectors: readonly SlotSector[];
  /** Reads `length` bytes at `offset`. Reads past `size` are a bug. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Erases whole sectors covering exactly `[offset, offset + length)`. */
  erase(offset: number, length: number): Promise<void>;
  /** Writes `bytes` at `offset` into erased memory; offset and length are `writeAlign`-aligned. */
  write(offset: number, bytes: Uint8Array): Promise<void>;
  /** Makes previous writes durable (fsync on files); a no-op where writes are durable at once. */
  sync?(): Promise<void>;
}

/** One erase unit of a {@link Slot}, slot-relative. */
export interface SlotSector {
  readonly offset: number;
  readonly size: number;
}
