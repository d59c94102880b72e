import cliProgress from 'cli-progress';
import type { CliIo } from './io.js';

/** Progress of one long task (hashing, encrypting, uploading). */
export interface Progress {
  /** Set the number of bytes done so far. */
  update(done: number): void;
  /** Finish the bar (idempotent). */
  stop(): void;
}

const SILENT: Progress = { update() {}, stop() {} };

/**
 * A byte progress bar on stderr, drawn only when stdout is an interactive terminal and the
 * output is not JSON (so pipes and scripts never see control characters). Tiny tasks get none.
 */
export function createProgress(
  io: CliIo,
  options: { json: boolean; label: string; total: number; minTotal?: number },
): Progress {
  const minTotal = options.minTotal ?? 1024 * 1024;
  if (options.json || io.stdout.isTTY !== true || options.total < minTotal) return SILENT;
  const bar = new cliProgress.SingleBar(
    {
      // cli-progress only needs write/isTTY/columns of the stream; our io type is that shape.
      stream: io.stderr as NodeJS.WritableStream,
      format: `${options.label} [{bar}] {percentage}% | {doneMiB}/{totalMiB} MiB`,
      hideCursor: false,
      clearOnComplete: false,
      etaBuffer: 20,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  const mib = (n: number) => (n / (1024 * 1024)).toFixed(1);
  bar.start(options.total, 0, { doneMiB: mib(0), totalMiB: mib(options.total) });
  let stopped = false;
  return {
    update(done) {
      if (!stopped) bar.update(done, { doneMiB: mib(done) });
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}
