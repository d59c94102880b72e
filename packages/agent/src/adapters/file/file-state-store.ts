import { readFile } from 'node:fs/promises';
import { atomicWriteFile } from '@updraft/core/fs';
import type { StateStore } from '../../ports/state-store.js';

/** The agent's journal in one file, replaced atomically (temp file + fsync + rename). */
export class FileStateStore implements StateStore {
  constructor(readonly path: string) {}

  async load(): Promise<Uint8Array | null> {
    try {
      return new Uint8Array(await readFile(this.path));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async save(record: Uint8Array): Promise<void> {
    await atomicWriteFile(this.path, record);
  }
}
