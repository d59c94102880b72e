import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { atomicWrite } from './atomic-write.js';
import { CliError } from './errors.js';
import type { CliIo } from './io.js';

/** What `updraft login` stores: where the update service is and the token to use there. */
export interface CliConfig {
  readonly server?: string;
  readonly token?: string;
  readonly username?: string;
}

/** Path of the CLI config file: `--config`, `$UPDRAFT_CLI_CONFIG`, or the XDG default. */
export function cliConfigPath(io: CliIo, explicit?: string): string {
  if (explicit !== undefined) return explicit;
  const base = io.env.XDG_CONFIG_HOME ?? join(io.env.HOME ?? io.cwd, '.config');
  return join(base, 'updraft', 'config.json');
}

/** Reads the config file; a missing file is an empty config, a malformed one a typed error. */
export async function readCliConfig(path: string): Promise<CliConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new CliError('CLI_CONFIG_INVALID', `cannot read the CLI config ${path}`, {
      cause: error,
      details: { path },
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new CliError('CLI_CONFIG_INVALID', `the CLI config ${path} is not JSON`, {
      details: { path },
    });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CliError('CLI_CONFIG_INVALID', `the CLI config ${path} is not a JSON object`, {
      details: { path },
    });
  }
  const out: Record<string, string> = {};
  for (const key of ['server', 'token', 'username'] as const) {
    const v = (value as Record<string, unknown>)[key];
    if (v === undefined) continue;
    if (typeof v !== 'string') {
      throw new CliError(
        'CLI_CONFIG_INVALID',
        `the CLI config ${path}: "${key}" must be a string`,
        {
          details: { path, key },
        },
      );
    }
    out[key] = v;
  }
  return out;
}

/** Writes the config atomically with mode 0600 (it holds a token), creating its directory. */
export async function writeCliConfig(path: string, config: CliConfig): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await atomicWrite(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
}
