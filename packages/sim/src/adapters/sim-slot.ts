import type { Slot, SlotSector } from '@updraft/agent';
import type { FlashArea } from '../flash-area.js';

/**
 * The agent's {@link Slot} port over a simulated flash area. Every call is one flash operation
 * (or several, for an erase spanning sectors), so a planned power cut can hit any of them.
 */
export class SimSlot implements Slot {
  readonly name: string;
  readonly size: number;
  readonly writeAlign: number;
  readonly erasedValue: number;
  readonly sectors: readonly SlotSector[];

  constructor(
    name: string,
    private readonly area: FlashArea,
  ) {
    this.name = name;
    this.size = area.size;
    this.writeAlign = area.flash.writeAlign;
    this.erasedValue = area.flash.erasedValue;
    this.sectors = area.sectors();
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    return this.area.read(offset, length);
  }

  async erase(offset: number, length: number): Promise<void> {
    this.area.erase(offset, length);
  }

  async write(offset: number, bytes: Uint8Array): Promise<void> {
    this.area.write(offset, bytes);
  }
}
