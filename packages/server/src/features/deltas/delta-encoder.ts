import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { DeltaError, diffDetailed, type PatchKind } from '@updraft/delta';

/** A finished encoding: the patch and the kind the encoder chose. */
export interface EncodeResult {
  readonly patch: Uint8Array;
  readonly kind: PatchKind;
}

/** Budgets of one encoding. */
export interface EncodeBudget {
  readonly maxMemoryBytes: number;
  readonly timeBudgetMs: number;
  /** Aborts the encoding (server shutdown); it then rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** Encodes a patch from `base` to `target` (the buffers may be transferred away). */
export type DeltaEncoder = (
  base: Uint8Array,
  target: Uint8Array,
  budget: EncodeBudget,
) => Promise<EncodeResult>;

// From sources (tests, `tsx`) the worker is TypeScript: it registers tsx's loader first.
function workerSource(): { code: string | URL; eval: boolean } {
  const self = import.meta.url;
  if (!self.endsWith('.ts'))
    return { code: new URL('./delta-encoder.worker.js', self), eval: false };
  const require = createRequire(self);
  const tsx = pathToFileURL(
    require.resolve('tsx/package.json').replace(/package\.json$/, 'dist/esm/api/index.mjs'),
  ).href;
  const worker = new URL('./delta-encoder.worker.ts', self).href;
  return {
    code: `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(worker)}); });`,
    eval: true,
  };
}

/**
 * Encodes in a worker thread, so a long encoding never blocks the server's event loop, and the
 * time budget is enforced by terminating the thread (`DELTA_BUDGET_EXCEEDED`). The encoder's own
 * memory budget applies inside (`maxMemoryBytes`).
 */
export const workerEncoder: DeltaEncoder = (base, target, budget) =>
  new Promise<EncodeResult>((resolve, reject) => {
    if (budget.signal?.aborted) return reject(budget.signal.reason);
    const source = workerSource();
    const worker = new Worker(source.code, {
      eval: source.eval,
      execArgv: source.eval ? ['--conditions=updraft-source'] : [],
    });
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      fn();
    };
    const timer = setTimeout(
      () =>
        finish(() =>
          reject(
            new DeltaError('DELTA_BUDGET_EXCEEDED', 'delta encoding ran over its time budget', {
              details: { timeBudgetMs: budget.timeBudgetMs },
            }),
          ),
        ),
      budget.timeBudgetMs,
    );
    worker.once(
      'message',
      (
        m:
          | { ok: true; patch: Uint8Array; kind: PatchKind }
          | { ok: false; code: string | null; message: string },
      ) =>
        finish(() => {
          if (m.ok) resolve({ patch: new Uint8Array(m.patch), kind: m.kind });
          else if (m.code === 'DELTA_BUDGET_EXCEEDED' || m.code === 'DELTA_INPUT_TOO_LARGE')
            reject(new DeltaError(m.code, m.message));
          else reject(new Error(`delta encoder failed: ${m.message}`));
        }),
    );
    worker.once('error', (error) => finish(() => reject(error)));
    budget.signal?.addEventListener('abort', () => finish(() => reject(budget.signal?.reason)), {
      once: true,
    });
    worker.once('exit', (code) =>
      finish(() => reject(new Error(`delta encoder exited with code ${code}`))),
    );
    worker.postMessage({ base, target, maxMemoryBytes: budget.maxMemoryBytes }, [
      base.buffer as ArrayBuffer,
      target.buffer as ArrayBuffer,
    ]);
  });

/**
 * Encodes on the calling thread, which it blocks: for tools and tests that serve no requests.
 * The time budget is checked from the encoder's progress callback.
 */
export const inProcessEncoder: DeltaEncoder = async (base, target, budget) => {
  const deadline = Date.now() + budget.timeBudgetMs;
  const report = diffDetailed(base, target, {
    maxMemoryBytes: budget.maxMemoryBytes,
    onProgress: () => {
      if (Date.now() > deadline)
        throw new DeltaError('DELTA_BUDGET_EXCEEDED', 'delta encoding ran over its time budget');
    },
  });
  return { patch: report.patch, kind: report.kind };
};
