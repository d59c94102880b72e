import { BugError } from '@updraft/core';
import type { SimFlash } from './sim-flash.js';

/**
 * A named, sector-aligned window of a {@link SimFlash} (MCUboot's `flash_area`): offsets are
 * relative to the area and never escape it. Slots, trailers and the journal each get one.
 */
export class FlashArea {
  constructor(
    readonly flash: SimFlash,
    readonly name: string,
    readonly offset: number,
    readonly size: number,
  ) {
    const first = flash.sectorAt(offset);
    if (first.offset !== offset) throw new BugError(`area ${name} does not start on a sector`);
    const end = offset + size;
    if (end !== flash.size && flash.sectorAt(end).offset !== end) {
      throw new BugError(`area ${name} does not end on a sector boundary`);
    }
  }

  /** Sectors of this area, offsets relative to the area. */
  sectors(): { offset: number; size: number }[] {
    return this.flash.sectors
      .filter((s) => s.offset >= this.offset && s.offset < this.offset + this.size)
      .map((s) => ({ offset: s.offset - this.offset, size: s.size }));
  }

  read(offset: number, length: number): Uint8Array {
    this.check(offset, length, 'read');
    return this.flash.read(this.offset + offset, length);
  }

  write(offset: number, data: Uint8Array): void {
    this.check(offset, data.length, 'write');
    this.flash.write(this.offset + offset, data);
  }

  isErased(offset: number, length: number): boolean {
    this.check(offset, length, 'isErased');
    return this.flash.isErased(this.offset + offset, length);
  }

  /** Erases the sectors covering [offset, offset+length) (must be sector-aligned). */
  erase(offset = 0, length = this.size - offset): void {
    this.check(offset, length, 'erase');
    this.flash.eraseRange(this.offset + offset, length);
  }

  private check(offset: number, length: number, what: string): void {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new BugError(`${what} outside area ${this.name}: ${offset}+${length} > ${this.size}`);
    }
  }
}
