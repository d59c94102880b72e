import { BugError } from '@updraft/core';

/**
 * A counting semaphore: at most `permits` holders at once, the others wait in arrival order.
 * `peak` is the most holders seen at once (for tests and metrics).
 *
 * @example
 * const release = await semaphore.acquire();
 * try { work(); } finally { release(); }
 */
export class Semaphore {
  readonly #waiting: (() => void)[] = [];
  #inUse = 0;
  #peak = 0;

  constructor(readonly permits: number) {
    if (!Number.isInteger(permits) || permits < 1)
      throw new BugError('a semaphore needs at least one permit');
  }

  /** Holders now. */
  get inUse(): number {
    return this.#inUse;
  }

  /** Callers waiting for a permit now. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Most holders at once so far. */
  get peak(): number {
    return this.#peak;
  }

  /** Resolves with the release function once a permit is free; call it exactly once. */
  async acquire(): Promise<() => void> {
    if (this.#inUse < this.permits) this.#take();
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    let released = false;
    return () => {
      if (released) throw new BugError('semaphore permit released twice');
      released = true;
      const next = this.#waiting.shift();
      // The permit passes straight to the next waiter: the count stays the same.
      if (next !== undefined) next();
      else this.#inUse--;
    };
  }

  #take(): void {
    this.#inUse++;
    if (this.#inUse > this.#peak) this.#peak = this.#inUse;
  }
}
