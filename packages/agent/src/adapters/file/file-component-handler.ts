import { access, readFile, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { atomicWriteFile, syncDirectory } from '@updraft/core/fs';
import type { ComponentHandler } from '../../ports/component-handler.js';
import type { Slot } from '../../ports/slot.js';
import { FileSlot } from './file-slot.js';

/** Where a {@link FileComponentHandler} keeps its files. */
export interface FileComponentOptions {
  /** SUIT component id (hex). */
  readonly id: string;
  /** The installed file (e.g. `/etc/app/config.bin`, a radio firmware file a service flashes). */
  readonly path: string;
  /** Largest image accepted. */
  readonly maxSize: number;
}

/**
 * A non-main component stored as a plain file (a configuration blob, a co-processor image):
 * staged in `<path>.staging`, applied by an atomic replace that keeps `<path>.previous` for revert,
 * committed by dropping the previous copy. Each step survives a power cut and can be repeated.
 */
export class FileComponentHandler implements ComponentHandler {
  readonly id: string;
  readonly #options: FileComponentOptions;
  #staging: FileSlot | null = null;

  constructor(options: FileComponentOptions) {
    this.id = options.id;
    this.#options = options;
  }

  async stagingSlot(): Promise<Slot> {
    this.#staging ??= await FileSlot.open({
      name: `${this.id}-staging`,
      path: `${this.#options.path}.staging`,
      size: this.#options.maxSize,
      sectorSize: Math.min(this.#options.maxSize, 1024 * 1024),
    });
    return this.#staging;
  }

  async apply(image: { readonly size: number }): Promise<void> {
    const { path } = this.#options;
    const previous = `${path}.previous`;
    // Keep the running content once; a repeated apply must not overwrite it with the new one.
    if (!(await exists(previous))) {
      // Synced before it is renamed into place (a bare copy + rename could leave an empty file).
      const running = (await exists(path))
        ? new Uint8Array(await readFile(path))
        : new Uint8Array(0);
      await atomicWriteFile(previous, running);
      await syncDirectory(dirname(path));
    }
    const staging = await this.stagingSlot();
    await atomicWriteFile(path, await staging.read(0, image.size));
  }

  async revert(): Promise<void> {
    const { path } = this.#options;
    const previous = `${path}.previous`;
    if (!(await exists(previous))) return;
    await atomicWriteFile(path, new Uint8Array(await readFile(previous)));
    await unlink(previous);
    await syncDirectory(dirname(path));
  }

  async commit(): Promise<void> {
    await unlink(`${this.#options.path}.previous`).catch(() => {});
    await syncDirectory(dirname(this.#options.path));
  }

  /** Closes the staging file. */
  async close(): Promise<void> {
    await this.#staging?.close();
    this.#staging = null;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
