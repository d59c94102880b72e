/**
 * Durable storage for the agent's journal (one small record, a few KiB at most).
 *
 * `save` is atomic: after a power cut at any moment, `load` returns either the previous record or
 * the new one, never a mixture (the file adapter uses temp file + fsync + rename; flash-backed
 * stores alternate between two copies with a sequence counter and a checksum).
 */
export interface StateStore {
  /** The last saved record, or null when nothing was ever saved. */
  load(): Promise<Uint8Array | null>;
  /** Replaces the record; durable when the promise resolves. */
  save(record: Uint8Array): Promise<void>;
}
