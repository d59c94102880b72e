/** What a {@link DeltaWorker} is built from. */
export interface DeltaWorkerOptions<J> {
  /** Claims the next job from the shared queue (the database), or undefined when none waits. */
  readonly claim: () => Promise<J | undefined>;
  /** Runs one claimed job; `signal` aborts when the worker closes. */
  readonly run: (job: J, signal: AbortSignal) => Promise<void>;
  /** A job or a claim that threw (the loop goes on). */
  readonly onError: (error: unknown) => void;
  /** How often the queue is looked at when nothing woke the worker (other replicas' jobs). */
  readonly pollIntervalMs: number;
}

/**
 * One replica's encoder loop over a queue kept elsewhere (the `deltas` table): concurrency 1,
 * because encoding is CPU- and memory-heavy. It claims and runs jobs until none is left, then
 * sleeps `pollIntervalMs` or until {@link wake} (a job inserted by this replica).
 */
export class DeltaWorker<J> {
  readonly #options: DeltaWorkerOptions<J>;
  readonly #closing = new AbortController();
  #loop: Promise<void> | undefined;
  /** Set by wake(): the next sleep is skipped (a wake-up during a drain is not lost). */
  #woken = false;
  #wakeSleeper: (() => void) | undefined;
  /** idle() callers waiting for a drain that starts after their call. */
  #waitingForDrain: (() => void)[] = [];

  constructor(options: DeltaWorkerOptions<J>) {
    if (!(Number.isFinite(options.pollIntervalMs) && options.pollIntervalMs > 0))
      throw new RangeError('pollIntervalMs must be a positive number');
    this.#options = options;
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.#closing.signal.aborted;
  }

  /** Starts the loop (once; not after close). */
  start(): void {
    if (this.#loop !== undefined || this.closed) return;
    this.#loop = this.#run();
  }

  /** Looks at the queue now instead of at the next poll. */
  wake(): void {
    this.#woken = true;
    this.#wakeSleeper?.();
  }

  /**
   * Resolves once a drain that started after this call found nothing left to claim (or the
   * worker closed): every job claimable now has run, here or elsewhere. For tests and tools.
   */
  idle(): Promise<void> {
    if (this.closed || this.#loop === undefined) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.#waitingForDrain.push(resolve));
    this.wake();
    return done;
  }

  /** Stops claiming, aborts the running job (its `run` gives it back) and waits for it. */
  async close(): Promise<void> {
    this.#closing.abort(new Error('the server is closing'));
    this.#wakeSleeper?.();
    await this.#loop;
    for (const resolve of this.#waitingForDrain.splice(0)) resolve();
  }

  async #run(): Promise<void> {
    // Start on a later tick, so the caller (the app's start-up) finishes first.
    await new Promise((resolve) => setImmediate(resolve));
    while (!this.closed) {
      const waiting = this.#waitingForDrain.splice(0);
      this.#woken = false;
      try {
        await this.#drain();
        for (const resolve of waiting) resolve();
      } catch (error) {
        // A failed claim (database away): the waiters wait for the next drain.
        this.#waitingForDrain.unshift(...waiting);
        this.#options.onError(error);
      }
      if (!this.#woken) await this.#sleep();
    }
  }

  async #drain(): Promise<void> {
    const { claim, run, onError } = this.#options;
    const signal = this.#closing.signal;
    while (!signal.aborted) {
      const job = await claim();
      if (job === undefined) return;
      try {
        await run(job, signal);
      } catch (error) {
        onError(error);
      }
    }
  }

  #sleep(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.#options.pollIntervalMs);
      timer.unref();
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wakeSleeper = () => {
        this.#wakeSleeper = undefined;
        done();
      };
    });
  }
}
