import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import { touchLastSeen } from '../devices/device.repository.js';

/**
 * Write-behind for `devices.last_seen_at`: check-ins only note the device in memory; a timer
 * writes every device seen since the last flush in one UPDATE per tenant (per 500 ids). An idle
 * poll therefore costs no write, and last-seen is precise to the flush interval. A crash loses at
 * most one interval of last-seen times, which the next poll restores.
 */
export class LastSeenTracker {
  readonly #pending = new Map<string, Set<string>>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => Date,
    private readonly flushMs = 5_000,
  ) {}

  /** Starts the flush timer. */
  start(): void {
    this.#timer ??= setInterval(() => void this.flush().catch(() => undefined), this.flushMs);
    this.#timer.unref();
  }

  /** Notes that a device was seen now. */
  touch(tenantId: string, deviceId: string): void {
    let ids = this.#pending.get(tenantId);
    if (ids === undefined) {
      ids = new Set();
      this.#pending.set(tenantId, ids);
    }
    ids.add(deviceId);
  }

  /** Writes every pending device; resolves when the write is done. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#write());
    return this.#flushing;
  }

  /** Stops the timer and writes what is pending. */
  async close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }

  async #write(): Promise<void> {
    if (this.#pending.size === 0) return;
    const at = this.now().toISOString();
    const batches = [...this.#pending.entries()];
    this.#pending.clear();
    for (const [tenantId, ids] of batches) {
      const list = [...ids];
      for (let i = 0; i < list.length; i += 500) {
        await touchLastSeen(this.db, tenantId, list.slice(i, i + 500), at);
      }
    }
  }
}
