import { crc32 } from 'node:zlib';
import type { FlashArea } from './flash-area.js';

/** Size of one record: a multiple of every supported write alignment (4, 8, 16). */
export const RECORD_SIZE = 16;
const RECORD_MARK = 0x5a;

/** One slot of a {@link RecordLog}: erased, a valid record, or garbage (a torn write). */
export type LogEntry =
  | { readonly kind: 'erased' }
  | { readonly kind: 'garbage' }
  | {
      readonly kind: 'record';
      readonly type: number;
      readonly tag: number;
      readonly value: number;
    };

/**
 * An append-only log of 16-byte records in a flash area: each state change is ONE aligned write
 * into erased cells, so a power cut leaves either the old state, the new record, or one garbage
 * record (a torn write: bad CRC) that readers skip. Nothing is ever rewritten in place; the area
 * is only erased as a whole. This is what makes the trailer and the security counter power-safe
 * without the word-atomic writes that MCUboot assumes.
 *
 *   0 mark u8 (0x5a) | 1 type u8 | 2 reserved u16 | 4 tag u32 | 8 value u32 | 12 crc32 of 0..11
 */
export class RecordLog {
  constructor(readonly area: FlashArea) {}

  /** How many records fit. */
  get capacity(): number {
    return Math.floor(this.area.size / RECORD_SIZE);
  }

  /** Every slot, in order (reads the whole area). */
  entries(): LogEntry[] {
    const raw = this.area.read(0, this.capacity * RECORD_SIZE);
    const erased = this.area.flash.erasedValue;
    const out: LogEntry[] = [];
    for (let i = 0; i < this.capacity; i++) {
      const rec = raw.subarray(i * RECORD_SIZE, (i + 1) * RECORD_SIZE);
      if (rec.every((b) => b === erased)) {
        out.push({ kind: 'erased' });
        continue;
      }
      const v = new DataView(rec.buffer, rec.byteOffset, RECORD_SIZE);
      const ok =
        v.getUint8(0) === RECORD_MARK && v.getUint32(12, true) === crc32(rec.subarray(0, 12));
      out.push(
        ok
          ? {
              kind: 'record',
              type: v.getUint8(1),
              tag: v.getUint32(4, true),
              value: v.getUint32(8, true),
            }
          : { kind: 'garbage' },
      );
    }
    return out;
  }

  /**
   * Appends after the last used slot. Returns false when the log is full (the caller decides
   * what a full log means; nothing is written).
   */
  append(type: number, tag: number, value: number): boolean {
    const entries = this.entries();
    let next = 0;
    for (let i = entries.length - 1; i >= 0; i--) {
      if (entries[i]?.kind !== 'erased') {
        next = i + 1;
        break;
      }
    }
    if (next >= this.capacity) return false;
    const rec = new Uint8Array(RECORD_SIZE);
    const v = new DataView(rec.buffer);
    v.setUint8(0, RECORD_MARK);
    v.setUint8(1, type);
    v.setUint32(4, tag >>> 0, true);
    v.setUint32(8, value >>> 0, true);
    v.setUint32(12, crc32(rec.subarray(0, 12)), true);
    this.area.write(next * RECORD_SIZE, rec);
    return true;
  }

  /** Erases the whole log. */
  reset(): void {
    this.area.erase();
  }
}
