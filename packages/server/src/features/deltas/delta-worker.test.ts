import { describe, expect, it } from 'vitest';
import { DeltaWorker } from './delta-worker.js';

/**
 * A queue held outside the worker (as the `deltas` table is) and job bodies that wait until
 * released, recording how many ran at once. `startedCount(n)` resolves once `n` jobs started:
 * tests wait for that event, not for a clock.
 */
function fakeQueue() {
  const jobs: number[] = [];
  const gates = new Map<number, () => void>();
  const started: number[] = [];
  const signals = new Map<number, AbortSignal>();
  const waiting = new Map<number, () => void>();
  let claims = 0;
  let running = 0;
  let peak = 0;
  return {
    jobs,
    started,
    signals,
    claims: () => claims,
    peak: () => peak,
    release: (job: number) => gates.get(job)?.(),
    startedCount: (n: number) =>
      started.length >= n
        ? Promise.resolve()
        : new Promise<void>((resolve) => waiting.set(n, resolve)),
    claim: async () => {
      claims += 1;
      return jobs.shift();
    },
    run: (job: number, signal: AbortSignal) =>
      new Promise<void>((resolve) => {
        started.push(job);
        signals.set(job, signal);
        running += 1;
        peak = Math.max(peak, running);
        waiting.get(started.length)?.();
        const done = () => {
          running -= 1;
          resolve();
        };
        gates.set(job, done);
        signal.addEventListener('abort', done, { once: true });
      }),
  };
}

const HOUR = 3_600_000;

describe('DeltaWorker', () => {
  it('runs the claimed jobs one at a time until none is left, woken at once by wake()', async () => {
    const q = fakeQueue();
    // No poll within the test: only wake() and idle() can make it look.
    const worker = new DeltaWorker<number>({
      claim: q.claim,
      run: q.run,
      onError: () => {},
      pollIntervalMs: HOUR,
    });
    worker.start();
    await worker.idle();
    expect(q.started).toEqual([]);
    q.jobs.push(1, 2, 3);
    worker.wake();
    await q.startedCount(1);
    expect(q.started).toEqual([1]);
    q.release(1);
    await q.startedCount(2);
    // A wake-up while a job runs is not lost: the job queued now runs after the others.
    q.jobs.push(4);
    worker.wake();
    for (const job of [2, 3]) {
      await q.startedCount(job);
      q.release(job);
    }
    await q.startedCount(4);
    q.release(4);
    await worker.idle();
    expect(q.started).toEqual([1, 2, 3, 4]);
    expect(q.peak()).toBe(1);
    await worker.close();
  });

  it('finds jobs queued elsewhere (no wake-up) by polling', async () => {
    const q = fakeQueue();
    const worker = new DeltaWorker<number>({
      claim: q.claim,
      run: q.run,
      onError: () => {},
      pollIntervalMs: 20,
    });
    worker.start();
    await worker.idle();
    const before = q.claims();
    q.jobs.push(7);
    await q.startedCount(1);
    expect(q.started).toEqual([7]);
    expect(q.claims()).toBeGreaterThan(before);
    q.release(7);
    await worker.close();
  });

  it('keeps going after a failing job or a failing claim, and reports both', async () => {
    const errors: string[] = [];
    const done: number[] = [];
    const jobs = [1, 2];
    let claimFails = true;
    const worker = new DeltaWorker<number>({
      claim: async () => {
        if (claimFails) {
          claimFails = false;
          throw new Error('database away');
        }
        return jobs.shift();
      },
      run: async (job) => {
        if (job === 1) throw new Error('boom');
        done.push(job);
      },
      onError: (error) => errors.push((error as Error).message),
      pollIntervalMs: 10,
    });
    worker.start();
    // The failed claim does not count as a drain: idle() waits for one that found the queue empty.
    await worker.idle();
    expect(done).toEqual([2]);
    expect(errors).toEqual(['database away', 'boom']);
    await worker.close();
  });

  it('on close aborts the running job, waits for it, and claims nothing more', async () => {
    const q = fakeQueue();
    const worker = new DeltaWorker<number>({
      claim: q.claim,
      run: q.run,
      onError: () => {},
      pollIntervalMs: 10,
    });
    worker.start();
    q.jobs.push(1, 2);
    worker.wake();
    await q.startedCount(1);
    expect(q.signals.get(1)?.aborted).toBe(false);
    // The job ends only by the abort (its gate is never opened), so close() resolving proves it.
    await worker.close();
    expect(worker.closed).toBe(true);
    expect(q.signals.get(1)?.aborted).toBe(true);
    expect(q.started).toEqual([1]);
    const claims = q.claims();
    worker.wake();
    worker.start();
    await worker.idle();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(q.claims()).toBe(claims);
    // The job left in the queue is there for another replica.
    expect(q.jobs).toEqual([2]);
  });

  it('rejects a poll interval that is not a positive number', () => {
    for (const pollIntervalMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY])
      expect(
        () =>
          new DeltaWorker({
            claim: async () => undefined,
            run: async () => {},
            onError: () => {},
            pollIntervalMs,
          }),
      ).toThrow(RangeError);
  });
});
