import { crc32 } from 'node:zlib';
import type { StateStore } from '@updraft/agent';
import { SimError } from '../errors.js';
import type { FlashArea } from '../flash-area.js';

const HEADER_SIZE = 16;
const STORE_MAGIC = 0x4c4e524a; // "JRNL"

/**
 * The agent's {@link StateStore} on flash: two areas ping-ponged. A save erases the copy that
 * does NOT hold the newest record, writes the body, then the 16-byte header last (magic,
 * sequence number, length, CRC-32 of sequence+length+body). The header write is the commit
 * point: a cut anywhere before or inside it leaves the newest copy untouched, and `load`
 * picks the valid copy with the highest sequence number.
 */
export class FlashStateStore implements StateStore {
  constructor(private readonly copies: readonly [FlashArea, FlashArea]) {}

  async load(): Promise<Uint8Array | null> {
    const best = this.newest();
    return best ? best.body : null;
  }

  async save(record: Uint8Array): Promise<void> {
    const best = this.newest();
    const target = best?.index === 0 ? 1 : 0;
    const area = this.copies[target];
    const align = area.flash.writeAlign;
    const padded = Math.ceil(record.length / align) * align;
    if (HEADER_SIZE + padded > area.size) {
      throw new SimError(
        'SIM_CONFIG_INVALID',
        `journal record of ${record.length} bytes does not fit`,
        {
          details: { size: record.length, capacity: area.size - HEADER_SIZE },
        },
      );
    }
    const seq = ((best?.seq ?? 0) + 1) >>> 0;
    area.erase();
    if (padded > 0) {
      const body = new Uint8Array(padded).fill(area.flash.erasedValue);
      body.set(record);
      area.write(HEADER_SIZE, body);
    }
    const header = new Uint8Array(HEADER_SIZE);
    const v = new DataView(header.buffer);
    v.setUint32(0, STORE_MAGIC, true);
    v.setUint32(4, seq, true);
    v.setUint32(8, record.length, true);
    v.setUint32(12, checksum(header.subarray(4, 12), record), true);
    area.write(0, header);
  }

  private newest(): { index: 0 | 1; seq: number; body: Uint8Array } | null {
    let best: { index: 0 | 1; seq: number; body: Uint8Array } | null = null;
    for (const index of [0, 1] as const) {
      const area = this.copies[index];
      const h = new DataView(area.read(0, HEADER_SIZE).buffer);
      const len = h.getUint32(8, true);
      if (h.getUint32(0, true) !== STORE_MAGIC || len > area.size - HEADER_SIZE) continue;
      const body = area.read(HEADER_SIZE, len);
      const header = new Uint8Array(h.buffer, 0, HEADER_SIZE);
      if (h.getUint32(12, true) !== checksum(header.subarray(4, 12), body)) continue;
      const seq = h.getUint32(4, true);
      // Sequence numbers are compared with wrap-around: the newer is at most 2^31 ahead.
      if (!best || ((seq - best.seq) | 0) > 0) best = { index, seq, body };
    }
    return best;
  }
}

function checksum(seqAndLength: Uint8Array, body: Uint8Array): number {
  const head = crc32(seqAndLength);
  // zlib.crc32 answers 0 for some empty inputs whatever the initial value: skip them.
  return body.length === 0 ? head : crc32(body, head);
}
