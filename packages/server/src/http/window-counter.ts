/**
 * Most distinct keys one counter holds in a window (≈100 B each, so ≈10 MiB). Past it, new keys
 * share one overflow key with the same budget: a flood of fresh addresses is limited as one
 * client instead of going uncounted.
 */
export const RATE_LIMIT_MAX_KEYS = 100_000;

/** The key new keys share once a counter is full (no NUL byte: PostgreSQL text cannot hold one). */
export const OVERFLOW_KEY = '*overflow';

/**
 * Hits per key in fixed windows aligned to the clock (`now - now % windowMs`), so every replica
 * agrees on them. Implementations: `FixedWindowCounter` (this process only) and
 * `SharedWindowCounter` (local hits plus the totals all replicas share).
 */
export interface WindowCounter {
  /** Counts one hit of `key`; returns its count in this window (a new key past the bound counts as overflow). */
  hit(key: string): number;
  /** The count of `key` in this window, without counting. */
  peek(key: string): number;
  /** Keys held in this window (the memory bound's measure). */
  readonly size: number;
  /** Whole seconds until the window turns (at least 1), for Retry-After. */
  retryAfterSeconds(): number;
}
