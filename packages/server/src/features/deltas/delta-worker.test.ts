import { describe, expect, it } from 'vitest';
import { DeltaWorker } from './delta-worker.js';

/**
 * A job body that waits until released, recording how many ran at once. `startedCount(n)` resolves
 * once `n` jobs have started: tests wait for that event, not for a clock.
 */
function gatedRunner() {
  const gates = new Map<number, () => void>();
  const started: number[] = [];
  const waiting = new Map<number, () => void>();
  let running = 0;
  let peak = 0;
  return {
    started,
    peak: () => peak,
    release: (job: number) => gates.get(job)?.(),
    startedCount: (n: number) =>
      started.length >= n
        ? Promise.resolve()
        : new Promise<void>((resolve) => waiting.set(n, resolve)),
    run: (job: number) =>
      new Promise<void>((resolve) => {
        started.push(job);
        waiting.get(started.length)?.();
        running += 1;
        peak = Math.max(peak, running);
        gates.set(job, () => {
          running -= 1;
          resolve();
        });
      }),
  };
}

describe('DeltaWorker', () => {
  it('runs one job at a time and refuses jobs beyond the queue bound', async () => {
    const gated = gatedRunner();
    const worker = new DeltaWorker<number>({ maxQueued: 3, run: gated.run, onError: () => {} });
    expect(worker.enqueue('a', 1)).toBe('queued');
    await gated.startedCount(1);
    expect(['b', 'c', 'd'].map((k, i) => worker.enqueue(k, i + 2))).toEqual([
      'queued',
      'queued',
      'queued',
    ]);
    expect(worker.queued).toBe(3);
    expect(worker.enqueue('e', 5)).toBe('full');
    expect(worker.enqueue('b', 2)).toBe('duplicate');
    expect(worker.enqueue('a', 1)).toBe('duplicate');
    expect(worker.has('e')).toBe(false);
    for (let job = 1; job <= 4; job++) {
      await gated.startedCount(job);
      gated.release(job);
    }
    await worker.idle();
    expect(gated.started).toEqual([1, 2, 3, 4]);
    expect(gated.peak()).toBe(1);
    // Room again once drained.
    expect(worker.enqueue('e', 5)).toBe('queued');
    await gated.startedCount(5);
    gated.release(5);
    await worker.idle();
  });

  it('keeps going after a failing job and reports it', async () => {
    const errors: [unknown, number][] = [];
    const done: number[] = [];
    const worker = new DeltaWorker<number>({
      maxQueued: 4,
      run: async (job) => {
        if (job === 1) throw new Error('boom');
        done.push(job);
      },
      onError: (error, job) => errors.push([error, job]),
    });
    worker.enqueue('1', 1);
    worker.enqueue('2', 2);
    await worker.idle();
    expect(done).toEqual([2]);
    expect(errors.map(([e, j]) => [(e as Error).message, j])).toEqual([['boom', 1]]);
    expect(worker.has('1')).toBe(false);
  });

  it('on close drops waiting jobs, finishes the running one and refuses new ones', async () => {
    const gated = gatedRunner();
    const worker = new DeltaWorker<number>({ maxQueued: 2, run: gated.run, onError: () => {} });
    worker.enqueue('a', 1);
    worker.enqueue('b', 2);
    await gated.startedCount(1);
    const closed = worker.close();
    expect(worker.enqueue('c', 3)).toBe('closed');
    gated.release(1);
    await closed;
    expect(gated.started).toEqual([1]);
    expect(worker.has('b')).toBe(false);
  });

  it('rejects a queue bound that is not a positive integer', () => {
    for (const maxQueued of [0, -1, 1.5, Number.NaN])
      expect(() => new DeltaWorker({ maxQueued, run: async () => {}, onError: () => {} })).toThrow(
        RangeError,
      );
  });
});
