import { createHash, type Hash } from 'node:crypto';
import type { Slot } from '../ports/slot.js';

const READ_CHUNK = 1024 * 1024;

/** Feeds `[0, length)` of a slot into `hash`, in bounded chunks. */
export async function hashSlot(slot: Slot, length: number, hash: Hash): Promise<Hash> {
  for (let at = 0; at < length; at += READ_CHUNK) {
    hash.update(await slot.read(at, Math.min(READ_CHUNK, length - at)));
  }
  return hash;
}

/** SHA-256 hex of the first `length` bytes of a slot (read-back verification). */
export async function slotDigest(slot: Slot, length: number): Promise<string> {
  return (await hashSlot(slot, length, createHash('sha256'))).digest('hex');
}
