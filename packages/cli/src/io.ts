/** The part of a writable stream the CLI writes to (a process stream or a capture in tests). */
export interface CliOutput {
  write(chunk: string): unknown;
  /** True when this is an interactive terminal: only then are progress bars drawn. */
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/**
 * Everything the CLI touches outside itself. `runCli` receives it, so tests run commands
 * in-process with captured output, a temp working directory and a chosen environment.
 */
export interface CliIo {
  readonly stdout: CliOutput;
  readonly stderr: CliOutput;
  /** Standard input, for options such as `--password-stdin`. */
  readonly stdin?: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array>;
  /** Environment variables (`UPDRAFT_*`); commands never read `process.env` directly. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Directory relative paths are resolved against. */
  readonly cwd: string;
  /** Aborted when the process is asked to stop (SIGINT/SIGTERM); long-running commands end on it. */
  readonly signal?: AbortSignal;
  /** Time for commands that wait (simulated devices polling a service); real time when absent. */
  readonly clock?: CliClock;
}

/** Wall-clock time and timers, injected so tests can run hours of polling without waiting. */
export interface CliClock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Resolves after `ms` milliseconds, or rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real process's io; used only by bin.ts. */
export function processIo(signal?: AbortSignal): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    cwd: process.cwd(),
    ...(signal === undefined ? {} : { signal }),
  };
}
