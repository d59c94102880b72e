import { Readable } from 'node:stream';
import {
  type BlobInfo,
  type BlobStore,
  type ByteRange,
  rangeWithin,
} from '../../ports/blob-store.js';

/** Chunk size of answers served from memory (the socket takes them one at a time). */
const CHUNK_BYTES = 1_048_576;

/**
 * A {@link BlobStore} decorator keeping recently read blobs decrypted in memory, bounded by
 * `maxBytes` (least recently read go first; a blob larger than a quarter of it is never kept).
 * A rollout sends one image to many devices: the first download decrypts and verifies it (and
 * streams it as it goes), the following ones are served from memory — without it every download decrypts every byte
 * again (and every decrypted MiB is a fresh buffer for the garbage collector). The store itself
 * stays encrypted at rest; plaintext lives only in this process's memory, as it does anyway
 * while a download streams. Blobs are immutable (content-addressed), so a cached copy is never
 * stale; `delete` drops it.
 */
export class PlaintextCachingBlobStore implements BlobStore {
  readonly #entries = new Map<string, Plaintext>();
  /** Blobs being kept by the read that streams them now (one per blob: bounded memory). */
  readonly #filling = new Set<string>();
  /** Whole-blob loads started by ranged misses, shared by every ranged read that waits. */
  readonly #loading = new Map<string, Promise<Plaintext>>();
  /** Whole blobs decrypted to answer ranged misses (for tests and /metrics). */
  rangeFills = 0;
  #bytes = 0;
  /** Reads answered from memory / from the store (for /metrics). */
  hits = 0;
  misses = 0;

  constructor(
    private readonly inner: BlobStore,
    private readonly maxBytes: number,
  ) {}

  /** Bytes of plaintext held now. */
  get bytes(): number {
    return this.#bytes;
  }

  init(): Promise<void> {
    return this.inner.init();
  }

  close(): Promise<void> {
    this.#entries.clear();
    this.#bytes = 0;
    return this.inner.close();
  }

  put(source: Readable | AsyncIterable<Uint8Array>, expected: BlobInfo): Promise<BlobInfo> {
    return this.inner.put(source, expected);
  }

  head(digest: string): Promise<BlobInfo | undefined> {
    const cached = this.#entries.get(digest);
    return cached ? Promise.resolve({ digest, size: cached.size }) : this.inner.head(digest);
  }

  ready(): Promise<boolean> {
    return this.inner.ready();
  }

  async delete(digest: string): Promise<boolean> {
    this.#drop(digest);
    return this.inner.delete(digest);
  }

  async read(digest: string, range?: ByteRange): Promise<Readable> {
    const plain = this.#entries.get(digest);
    if (plain === undefined) {
      this.misses++;
      return this.#readThrough(digest, range);
    }
    this.hits++;
    // Most recently read last: eviction takes from the front.
    this.#entries.delete(digest);
    this.#entries.set(digest, plain);
    const { start, end } = rangeWithin(range, plain.size);
    return Readable.from(chunks(plain, start, end + 1), { objectMode: false });
  }

  /**
   * A whole-blob miss streams from the store as before (no wait for the whole blob); one such
   * read at a time also keeps what it streamed — once its last segment verified — for the next
   * ones. A ranged miss of a blob the cache would keep loads the whole blob once (concurrent
   * ranged misses share that load) and answers from memory: resumed and probing downloads
   * (one byte, the tail) then cost a copy, not a segment decryption each.
   */
  async #readThrough(digest: string, range?: ByteRange): Promise<Readable> {
    const info = await this.inner.head(digest);
    const keepable = info !== undefined && info.size > 0 && info.size <= this.maxBytes / 4;
    const whole =
      info !== undefined &&
      (range === undefined || (range.start === 0 && range.end === info.size - 1));
    if (keepable && !whole && !this.#filling.has(digest)) {
      const { start, end } = rangeWithin(range, info.size);
      const plain = await this.#load(digest);
      return Readable.from(chunks(plain, start, end + 1), { objectMode: false });
    }
    const source = await this.inner.read(digest, range);
    if (!whole || !keepable || this.#filling.has(digest)) return source;
    this.#filling.add(digest);
    const keep = (plain: Plaintext) => this.#keep(digest, plain);
    const done = () => this.#filling.delete(digest);
    async function* filling(): AsyncGenerator<Buffer> {
      const parts: Buffer[] = [];
      let complete = false;
      try {
        for await (const chunk of source) {
          parts.push(chunk as Buffer);
          yield chunk as Buffer;
        }
        complete = true;
      } finally {
        done();
        // The streamed chunks themselves (fresh buffers from the store): no copy of the blob.
        if (complete) keep(plaintextOf(parts));
      }
    }
    return Readable.from(filling(), { objectMode: false });
  }

  /** The whole blob, decrypted once and kept, however many ranged misses ask at once. */
  #load(digest: string): Promise<Plaintext> {
    let loading = this.#loading.get(digest);
    if (loading === undefined) {
      this.rangeFills++;
      loading = (async () => {
        const parts: Buffer[] = [];
        for await (const chunk of await this.inner.read(digest)) parts.push(chunk as Buffer);
        const plain = plaintextOf(parts);
        this.#keep(digest, plain);
        return plain;
      })().finally(() => this.#loading.delete(digest));
      this.#loading.set(digest, loading);
    }
    return loading;
  }

  #keep(digest: string, plain: Plaintext): void {
    this.#drop(digest);
    for (const [oldest, kept] of this.#entries) {
      if (this.#bytes + plain.size <= this.maxBytes) break;
      this.#entries.delete(oldest);
      this.#bytes -= kept.size;
    }
    this.#entries.set(digest, plain);
    this.#bytes += plain.size;
  }

  #drop(digest: string): void {
    const cached = this.#entries.get(digest);
    if (cached === undefined) return;
    this.#entries.delete(digest);
    this.#bytes -= cached.size;
  }
}

/** A kept blob: the chunks it was streamed in, with each chunk's start offset. */
interface Plaintext {
  readonly size: number;
  readonly chunks: readonly Buffer[];
  readonly starts: readonly number[];
}

function plaintextOf(parts: readonly Buffer[]): Plaintext {
  // A small slice of a larger buffer (a stream's pooled chunk) is copied: keeping it would
  // keep, and miscount, the memory around it.
  const chunks = parts
    .filter((part) => part.length > 0)
    .map((part) => (part.buffer.byteLength > 2 * part.length + 4096 ? Buffer.from(part) : part));
  const starts: number[] = [];
  let size = 0;
  for (const chunk of chunks) {
    starts.push(size);
    size += chunk.length;
  }
  return { size, chunks, starts };
}

/** Bytes `from..to` (exclusive) of a kept blob, in pieces of at most {@link CHUNK_BYTES}. */
function* chunks(plain: Plaintext, from: number, to: number): Generator<Buffer> {
  // The chunk holding `from`: the last one starting at or before it.
  let low = 0;
  let high = plain.chunks.length - 1;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (plain.starts[mid]! <= from) low = mid;
    else high = mid - 1;
  }
  for (let i = low; i < plain.chunks.length && plain.starts[i]! < to; i++) {
    const chunk = plain.chunks[i]!;
    const base = plain.starts[i]!;
    const stop = Math.min(to, base + chunk.length);
    for (let at = Math.max(from, base); at < stop; at += CHUNK_BYTES)
      yield chunk.subarray(at - base, Math.min(stop, at + CHUNK_BYTES) - base);
  }
}
