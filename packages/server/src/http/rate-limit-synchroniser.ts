import type { RateLimitStore } from '../ports/rate-limit-store.js';
import type { SharedWindowCounter } from './shared-window-counter.js';

/** The few logger methods the synchroniser calls (pino's signature). */
export interface SyncLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/** Passes of the synchroniser so far, for the metrics. */
export interface RateLimitSyncStats {
  readonly ok: number;
  readonly failed: number;
}

/** How long {@link RateLimitSynchroniser.close} waits for its last pass. */
const CLOSE_FLUSH_MS = 2_000;

/**
 * Runs every `intervalMs`: adds each counter's local hits to the shared store and learns the
 * totals ({@link SharedWindowCounter.sync}), then deletes past windows once per window. A pass
 * never overlaps the previous one and nothing waits for it: requests keep deciding on the counts
 * they have. When the store fails, the hits stay local (each replica still enforces what it
 * saw), one warning is logged until a pass succeeds again, and `stats.failed` counts it.
 */
export class RateLimitSynchroniser {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #cleaned = Number.NaN;
  #failing = false;
  #ok = 0;
  #failed = 0;

  constructor(
    private readonly options: {
      readonly store: RateLimitStore;
      readonly counters: readonly SharedWindowCounter[];
      readonly intervalMs: number;
      readonly windowMs: number;
      readonly clock: () => number;
      readonly logger: SyncLogger;
    },
  ) {}

  get stats(): RateLimitSyncStats {
    return { ok: this.#ok, failed: this.#failed };
  }

  /**
   * Starts the periodic passes (the timer does not keep the process alive), the first at once:
   * it cleans past windows and readies the statements before traffic needs them. Idempotent.
   */
  start(): void {
    if (this.#timer !== undefined) return;
    void this.syncNow();
    this.#timer = setInterval(() => void this.syncNow(), this.options.intervalMs);
    this.#timer.unref();
  }

  /** One pass now, or the one under way; never rejects. */
  syncNow(): Promise<void> {
    this.#running ??= this.#pass().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Stops the timer and sends what is unsynced (waiting at most 2 s: the store may be gone). */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    let timeout: NodeJS.Timeout | undefined;
    const flush = (async () => {
      await this.#running;
      await this.syncNow();
    })();
    await Promise.race([
      flush,
      new Promise<void>((resolve) => {
        timeout = setTimeout(resolve, CLOSE_FLUSH_MS);
      }),
    ]);
    clearTimeout(timeout);
  }

  async #pass(): Promise<void> {
    const { store, counters, windowMs, clock, logger } = this.options;
    try {
      for (const counter of counters) await counter.sync();
      const now = clock();
      const windowStart = now - (now % windowMs);
      if (windowStart !== this.#cleaned) {
        await store.deleteBefore(new Date(windowStart).toISOString());
        this.#cleaned = windowStart;
      }
      this.#ok++;
      if (this.#failing) {
        this.#failing = false;
        logger.info({}, 'rate-limit counts are shared again');
      }
    } catch (error) {
      this.#failed++;
      if (!this.#failing) {
        this.#failing = true;
        logger.warn(
          { err: error },
          'rate-limit counts cannot be shared (database unreachable?): each replica enforces the counts it sees until a sync succeeds',
        );
      }
    }
  }
}
