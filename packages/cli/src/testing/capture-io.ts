import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CliClock, CliIo } from '../io.js';
import { runCli } from '../run-cli.js';

/** A captured output stream. */
export interface Captured {
  readonly text: () => string;
  write(chunk: string): boolean;
  readonly isTTY: boolean;
  readonly columns: number;
}

function capture(isTTY: boolean): Captured {
  const chunks: string[] = [];
  return {
    text: () => chunks.join(''),
    write(chunk) {
      chunks.push(chunk);
      return true;
    },
    isTTY,
    columns: 100,
  };
}

/** An io whose stdout/stderr are captured, for running commands in-process. */
export function captureIo(
  cwd: string,
  options: RunOptions = {},
): CliIo & { stdout: Captured; stderr: Captured } {
  return {
    stdout: capture(options.tty ?? false),
    stderr: capture(options.tty ?? false),
    env: options.env ?? {},
    cwd,
    ...(options.stdin === undefined ? {} : { stdin: [Buffer.from(options.stdin)] }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  };
}

/** Options of an in-process run. */
export interface RunOptions {
  /** Pretend stdout/stderr are terminals (progress bars are drawn). */
  readonly tty?: boolean;
  readonly env?: Record<string, string>;
  readonly stdin?: string;
  /** Stands for SIGINT/SIGTERM. */
  readonly signal?: AbortSignal;
  /** Virtual time for commands that wait (`sim device` against a service). */
  readonly clock?: CliClock;
}

/** The outcome of one in-process CLI run. */
export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as JSON (throws when it is not exactly one JSON document). */
  json<T = Record<string, unknown>>(): T;
}

/** Runs `updraft <argv>` in-process in `cwd` with captured output. */
export async function run(
  cwd: string,
  argv: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const io = captureIo(cwd, options);
  const code = await runCli(argv, io);
  const stdout = io.stdout.text();
  return {
    code,
    stdout,
    stderr: io.stderr.text(),
    json: <T>() => JSON.parse(stdout) as T,
  };
}

/** A fresh temp directory; call the returned cleanup in afterEach. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'updraft-cli-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
