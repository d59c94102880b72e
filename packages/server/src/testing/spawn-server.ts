import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** A server running as a child process (for kill -9 and restart tests). */
export interface SpawnedServer {
  /** Base URL parsed from the server's "listening on" line. */
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** Sends a signal (default SIGKILL) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const childEntry = fileURLToPath(new URL('./server-child.ts', import.meta.url));

/**
 * Spawns `updraft server` (from sources, via tsx) with `env` (UPDRAFT_* settings; the port is
 * forced to 0) and resolves once it prints its address. Rejects with its output if it exits or
 * does not listen within `timeoutMs`.
 *
 * @example
 * const server = await spawnServer({ UPDRAFT_DATA_DIR: dir, UPDRAFT_ADMIN_PASSWORD: 'pw-pw-pw-pw-pw' });
 * await fetch(`${server.url}/healthz`);
 * await server.kill('SIGKILL');
 */
export async function spawnServer(
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<SpawnedServer> {
  const child = spawn(
    process.execPath,
    ['--conditions=updraft-source', '--import', 'tsx', childEntry],
    {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        UPDRAFT_LOG_LEVEL: 'warn',
        // The embedded MQTT broker on any free port (tests run side by side); a test may pin it.
        UPDRAFT_MQTT_PORT: '0',
        ...env,
        UPDRAFT_PORT: '0',
        UPDRAFT_HOST: '127.0.0.1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout?.on('data', (chunk) => {
    out += String(chunk);
  });
  child.stderr?.on('data', (chunk) => {
    out += String(chunk);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not listen within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const onData = () => {
      const match = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (match?.[1]) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        resolve(match[1]);
      }
    };
    child.stdout?.on('data', onData);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`server exited (code ${code}, signal ${signal}) before listening:\n${out}`));
    });
  });
  return {
    url,
    child,
    output: () => out,
    kill: async (signal = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
