import { type FileHandle, open } from 'node:fs/promises';
import { BugError } from '@updraft/core';
import type { Slot, SlotSector } from '../../ports/slot.js';

/** Where a {@link FileSlot} lives and how it is cut into sectors. */
export interface FileSlotOptions {
  readonly name: string;
  /** A regular file (created and sized when missing) or a block device such as `/dev/mmcblk0p3`. */
  readonly path: string;
  /** Usable bytes. A regular file is extended to this size; a block device must be at least it. */
  readonly size: number;
  /** Erase unit and checkpoint granularity (default 1 MiB; must divide `size`). */
  readonly sectorSize?: number;
}

/**
 * A slot backed by a file or a block device (Linux gateways). Files need no erase, so `erase`
 * only checks its arguments; writes are positional and `sync()` fsyncs, which the agent calls
 * before it checkpoints a download offset, so a checkpoint never claims bytes that are not durable.
 */
export class FileSlot implements Slot {
  readonly name: string;
  readonly size: number;
  readonly writeAlign = 1;
  readonly erasedValue = 0xff;
  readonly sectors: readonly SlotSector[];
  readonly #sectorSize: number;
  readonly #handle: FileHandle;

  private constructor(options: FileSlotOptions, handle: FileHandle) {
    this.name = options.name;
    this.size = options.size;
    this.#sectorSize = options.sectorSize ?? 1024 * 1024;
    this.#handle = handle;
    const sectors: SlotSector[] = [];
    for (let offset = 0; offset < this.size; offset += this.#sectorSize) {
      sectors.push({ offset, size: Math.min(this.#sectorSize, this.size - offset) });
    }
    this.sectors = sectors;
  }

  /** Opens (creating a regular file when missing) the slot's storage. */
  static async open(options: FileSlotOptions): Promise<FileSlot> {
    if (!Number.isSafeInteger(options.size) || options.size <= 0) {
      throw new BugError(`slot ${options.name}: size must be a positive integer`);
    }
    let handle: FileHandle;
    try {
      handle = await open(options.path, 'r+');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      handle = await open(options.path, 'w+', 0o600);
    }
    const stat = await handle.stat();
    if (stat.isFile() && stat.size < options.size) await handle.truncate(options.size);
    return new FileSlot(options, handle);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    this.#check(offset, length);
    const buffer = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.#handle.read(buffer, done, length - done, offset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    // A short file reads as erased.
    if (done < length) buffer.fill(this.erasedValue, done);
    return new Uint8Array(buffer.buffer, buffer.byteOffset, length);
  }

  async erase(offset: number, length: number): Promise<void> {
    this.#check(offset, length);
    const first = this.sectors.find((s) => s.offset === offset);
    const end = offset + length;
    if (!first || !(end === this.size || this.sectors.some((s) => s.offset === end))) {
      throw new BugError(`slot ${this.name}: erase must cover whole sectors`);
    }
  }

  async write(offset: number, bytes: Uint8Array): Promise<void> {
    this.#check(offset, bytes.length);
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await this.#handle.write(
        bytes,
        done,
        bytes.length - done,
        offset + done,
      );
      done += bytesWritten;
    }
  }

  async sync(): Promise<void> {
    await this.#handle.sync();
  }

  /** Closes the file. */
  async close(): Promise<void> {
    await this.#handle.close();
  }

  #check(offset: number, length: number): void {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new BugError(`slot ${this.name}: range ${offset}+${length} outside ${this.size}`);
    }
  }
}
