import type { Clock } from '@updraft/agent';

/**
 * Virtual time: `sleep` advances the clock at once instead of waiting, so a simulated device
 * polls for hours in milliseconds. Abort signals are honoured.
 */
export class SimClock implements Clock {
  private ms: number;

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.ms = startMs;
  }

  now(): number {
    return this.ms;
  }

  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw signal.reason;
    this.ms += Math.max(0, ms);
    // Yield so other simulated devices in the same process get their turn.
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (signal?.aborted) throw signal.reason;
  }

  /** Moves time forward without sleeping (the harness models time passing while powered off). */
  advance(ms: number): void {
    this.ms += Math.max(0, ms);
  }
}
