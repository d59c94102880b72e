import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = fileURLToPath(new URL('../../packages/cli/src/bin.ts', import.meta.url));

/**
 * One run of the real `updraft` binary from sources (tsx, no build) in its own process; cwd is
 * the repository root so that `--import tsx` resolves. `out` is stdout then stderr.
 */
export function spawnUpdraft(
  args: readonly string[],
  options: { readonly env: NodeJS.ProcessEnv; readonly timeoutMs?: number },
): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=updraft-source', '--import', 'tsx', BIN, ...args],
      { cwd: ROOT, env: options.env, timeout: options.timeoutMs ?? 120_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, out: stdout + stderr }),
    );
  });
}
