/** What {@link DeltaWorker.enqueue} did with a job. */
export type EnqueueOutcome = 'queued' | 'duplicate' | 'full' | 'closed';

/**
 * A bounded background queue with concurrency 1: patch encoding is CPU- and memory-heavy, so at
 * most one runs at a time and at most `maxQueued` wait (more are refused, not buffered: the next
 * check-in of a device with that base asks again). Jobs are deduplicated by key.
 */
export class DeltaWorker<J> {
  readonly #maxQueued: number;
  readonly #run: (job: J) => Promise<void>;
  readonly #onError: (error: unknown, job: J) => void;
  readonly #queue: { key: string; job: J }[] = [];
  readonly #keys = new Set<string>();
  #running: Promise<void> | null = null;
  #closed = false;
  #idleWaiters: (() => void)[] = [];

  constructor(options: {
    maxQueued: number;
    run: (job: J) => Promise<void>;
    onError: (error: unknown, job: J) => void;
  }) {
    if (!Number.isInteger(options.maxQueued) || options.maxQueued < 1)
      throw new RangeError('maxQueued must be a positive integer');
    this.#maxQueued = options.maxQueued;
    this.#run = options.run;
    this.#onError = options.onError;
  }

  /** Jobs waiting (not counting the one running). */
  get queued(): number {
    return this.#queue.length;
  }

  /** True while `key` waits or runs. */
  has(key: string): boolean {
    return this.#keys.has(key);
  }

  /** Adds a job unless its key is already waiting or running, or the queue is full. */
  enqueue(key: string, job: J): EnqueueOutcome {
    if (this.#closed) return 'closed';
    if (this.#keys.has(key)) return 'duplicate';
    if (this.#queue.length >= this.#maxQueued) return 'full';
    this.#keys.add(key);
    this.#queue.push({ key, job });
    this.#running ??= this.#drain();
    return 'queued';
  }

  /** Resolves once nothing waits or runs. */
  idle(): Promise<void> {
    if (this.#running === null) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Refuses new jobs, drops the waiting ones, and waits for the running one. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const { key } of this.#queue.splice(0)) this.#keys.delete(key);
    await this.idle();
  }

  async #drain(): Promise<void> {
    // Start on a later tick, so the request that enqueued is answered first.
    await new Promise((resolve) => setImmediate(resolve));
    for (let next = this.#queue.shift(); next !== undefined; next = this.#queue.shift()) {
      try {
        await this.#run(next.job);
      } catch (error) {
        this.#onError(error, next.job);
      } finally {
        this.#keys.delete(next.key);
      }
    }
    this.#running = null;
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }
}
