// Runs one delta encoding off the server's event loop (see delta-encoder.ts).
import { parentPort } from 'node:worker_threads';
import { isUpdraftError } from '@updraft/core';
import { diffDetailed } from '@updraft/delta';

interface Job {
  readonly base: Uint8Array;
  readonly target: Uint8Array;
  readonly maxMemoryBytes: number;
}

parentPort?.once('message', (job: Job) => {
  try {
    const report = diffDetailed(job.base, job.target, { maxMemoryBytes: job.maxMemoryBytes });
    parentPort?.postMessage({ ok: true, patch: report.patch, kind: report.kind }, [
      report.patch.buffer as ArrayBuffer,
    ]);
  } catch (error) {
    parentPort?.postMessage({
      ok: false,
      code: isUpdraftError(error) ? error.code : null,
      message: error instanceof Error ? error.message : String(error),
    });
  }
});
