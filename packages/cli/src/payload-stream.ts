import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { Progress } from './progress.js';

/** A pass-through that counts and hashes the bytes flowing by and moves a progress bar. */
export class MeteredStream extends Transform {
  #size = 0;
  readonly #hash = createHash('sha256');
  readonly #progress: Progress;

  constructor(progress: Progress) {
    super({ highWaterMark: 1024 * 1024 });
    this.#progress = progress;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#size += chunk.length;
    this.#hash.update(chunk);
    this.#progress.update(this.#size);
    callback(null, chunk);
  }

  /** Bytes seen so far. */
  get size(): number {
    return this.#size;
  }

  /** SHA-256 of all bytes seen (call once, after the stream ended). */
  sha256(): Uint8Array {
    return new Uint8Array(this.#hash.digest());
  }
}
