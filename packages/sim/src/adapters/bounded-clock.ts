import type { Clock } from '@updraft/agent';
import { RunStopped } from '../errors.js';

/** Limits of a {@link BoundedClock}. */
export interface BoundedClockOptions {
  /** Time (of the inner clock, ms since the epoch) at which the run stops. */
  readonly deadline?: number;
  /** Stops the run when aborted (Ctrl-C). */
  readonly signal?: AbortSignal;
}

/**
 * A clock whose sleeps end the run: a sleep past the deadline sleeps until the deadline and then
 * throws {@link RunStopped} (`deadline`), and an abort of `signal` throws it (`interrupted`).
 * Wraps the real clock of a simulated device that talks to a real service, so a device waiting
 * for a maintenance window hours away still exits when its time is up.
 */
export class BoundedClock implements Clock {
  constructor(
    private readonly inner: Clock,
    private readonly options: BoundedClockOptions = {},
  ) {}

  now(): number {
    return this.inner.now();
  }

  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    const stop = this.options.signal;
    if (stop?.aborted) throw interrupted();
    const { deadline } = this.options;
    const now = this.inner.now();
    if (deadline !== undefined && now >= deadline) throw pastDeadline();
    const cut = deadline !== undefined && now + Math.max(0, ms) > deadline;
    const signals = [signal, stop].filter((s): s is AbortSignal => s !== undefined);
    try {
      await this.inner.sleep(
        cut ? deadline - now : ms,
        signals.length === 0 ? undefined : AbortSignal.any(signals),
      );
    } catch (error) {
      if (stop?.aborted) throw interrupted();
      throw error;
    }
    if (cut) throw pastDeadline();
  }
}

const interrupted = () => new RunStopped('interrupted', 'the run was interrupted');
const pastDeadline = () => new RunStopped('deadline', 'the run reached its deadline');
