import { execFile } from 'node:child_process';
import { AgentError, type AgentErrorCode } from '../../errors.js';

/** How {@link runTool} runs one command. */
export interface RunToolOptions {
  /** The code of the {@link AgentError} raised when the command cannot run or fails. */
  readonly code: AgentErrorCode;
  /** Killed (SIGKILL) after this long (default 10 s). */
  readonly timeoutMs?: number;
  /** Bound on stdout and on stderr each, in bytes (default 1 MiB); more is a failure. */
  readonly maxOutput?: number;
  /** Written to the command's stdin, which is then closed (default: nothing, closed at once). */
  readonly input?: string;
  /** The command's environment (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
}

/** Keeps the tail of a tool's stderr (and stdout) for an error's details: enough to read, never unbounded. */
const STDERR_TAIL = 2000;

/**
 * Runs an external tool without a shell (`execFile`), with a timeout and bounded output, and
 * returns its stdout. A missing tool, a timeout, too much output or a non-zero exit is an
 * {@link AgentError} of `options.code` whose details name the tool, its exit code and the tail
 * of its stderr.
 */
export function runTool(
  file: string,
  args: readonly string[],
  options: RunToolOptions,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      {
        encoding: 'utf8',
        timeout: options.timeoutMs ?? 10_000,
        killSignal: 'SIGKILL',
        maxBuffer: options.maxOutput ?? 1024 * 1024,
        env: options.env ?? process.env,
      },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve(stdout);
          return;
        }
        const failure = error as NodeJS.ErrnoException & {
          killed?: boolean;
          signal?: NodeJS.Signals | null;
        };
        const tail = stderr.slice(-STDERR_TAIL).trim();
        const exitCode = typeof failure.code === 'number' ? failure.code : null;
        let why: string;
        if (failure.code === 'ENOENT') why = 'is not installed (not found on PATH)';
        else if (failure.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') why = 'printed too much';
        else if (failure.killed) why = `timed out after ${options.timeoutMs ?? 10_000} ms`;
        else if (exitCode !== null)
          why = `exited with ${exitCode}${tail ? `: ${lastLine(tail)}` : ''}`;
        else why = `failed (${failure.signal ?? failure.code ?? 'unknown'})`;
        reject(
          new AgentError(options.code, `${file} ${why}`, {
            cause: error,
            details: {
              tool: file,
              args: [...args],
              exitCode,
              stderr: tail,
              stdout: stdout.slice(-STDERR_TAIL).trim(),
            },
          }),
        );
      },
    );
    // A tool that exits before reading its input closes the pipe; that is reported by its exit code.
    child.stdin?.on('error', () => {});
    child.stdin?.end(options.input ?? '');
  });
}

function lastLine(text: string): string {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  return lines[lines.length - 1] ?? '';
}
