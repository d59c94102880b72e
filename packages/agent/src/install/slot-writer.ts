import { BugError } from '@updraft/core';
import type { Slot, SlotSector } from '../ports/slot.js';

/**
 * Streams an image into a slot the way NOR flash wants it: each sector is erased, then written
 * with one aligned write (the tail padded with the erased value). Bytes are buffered one sector at a
 * time, so memory stays bounded by the largest sector whatever the image size.
 *
 * `onSector(end)` runs after each full sector is written, with the slot offset up to which the
 * image is now durably stored: the agent checkpoints it so a resumed download restarts there.
 */
export class SlotWriter {
  readonly #slot: Slot;
  readonly #onSector: (end: number) => Promise<void>;
  #sectorIndex: number;
  #buffer: Uint8Array;
  #fill = 0;

  /** `start` must be a sector boundary (a checkpoint); the sector there is erased and rewritten. */
  constructor(slot: Slot, start: number, onSector: (end: number) => Promise<void>) {
    const index = slot.sectors.findIndex((s) => s.offset === start);
    if (index < 0 && start !== slot.size) {
      throw new BugError(`slot writer must start on a sector boundary, got ${start}`);
    }
    this.#slot = slot;
    this.#onSector = onSector;
    this.#sectorIndex = index < 0 ? slot.sectors.length : index;
    const largest = Math.max(...slot.sectors.map((s) => s.size));
    this.#buffer = new Uint8Array(largest);
  }

  /** Slot offset of the next byte to be pushed. */
  get position(): number {
    const sector = this.#slot.sectors[this.#sectorIndex];
    return sector === undefined ? this.#slot.size : sector.offset + this.#fill;
  }

  /** Appends bytes; full sectors are erased and written as they complete. */
  async push(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.length) {
      const sector = this.#current();
      const take = Math.min(sector.size - this.#fill, bytes.length - at);
      this.#buffer.set(bytes.subarray(at, at + take), this.#fill);
      this.#fill += take;
      at += take;
      if (this.#fill === sector.size) {
        await this.#writeSector(sector, sector.size);
        this.#sectorIndex += 1;
        this.#fill = 0;
        await this.#onSector(sector.offset + sector.size);
      }
    }
  }

  /** Writes the partial last sector (padded to the write alignment); call once at the end. */
  async finish(): Promise<void> {
    if (this.#fill > 0) {
      const sector = this.#current();
      const align = this.#slot.writeAlign;
      const padded = Math.ceil(this.#fill / align) * align;
      this.#buffer.fill(this.#slot.erasedValue, this.#fill, padded);
      await this.#writeSector(sector, padded);
      this.#fill = 0;
      this.#sectorIndex += 1;
    }
    await this.#slot.sync?.();
  }

  #current(): SlotSector {
    const sector = this.#slot.sectors[this.#sectorIndex];
    // The caller checks the image size against the slot first; running off the end is our bug.
    if (sector === undefined) throw new BugError('image does not fit the slot');
    return sector;
  }

  async #writeSector(sector: SlotSector, length: number): Promise<void> {
    await this.#slot.erase(sector.offset, sector.size);
    await this.#slot.write(sector.offset, this.#buffer.subarray(0, length));
  }
}

/** The last sector boundary at or below `offset` (where a resumed write must restart). */
export function sectorFloor(slot: Slot, offset: number): number {
  let floor = 0;
  for (const s of slot.sectors) {
    if (s.offset <= offset) floor = s.offset;
    else break;
  }
  return floor;
}
