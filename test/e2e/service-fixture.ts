import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A spawned `updraft server start` on loopback, signed in as its first admin. */
export interface SpawnedService {
  readonly base: string;
  /** The service's data directory (`<dataDir>/pki/ca.pem` is the chain devices pin). */
  readonly dataDir: string;
  /** Everything the process printed (its JSON log lines included). */
  output(): string;
  /** A management API call as the admin; throws with the answer on a non-2xx status. */
  api<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T>;
  /** The value of one sample in /metrics (0 when absent), e.g. `updraft_downloads_total{kind="full"}`. */
  metric(sample: string): Promise<number>;
  close(): Promise<void>;
}

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Starts the real service from sources (the CLI's `server start`, via tsx) in a fresh data
 * directory, waits for its "listening on" line and logs in as the generated admin.
 */
export async function startService(env: Record<string, string> = {}): Promise<SpawnedService> {
  const dir = await mkdtemp(join(tmpdir(), 'updraft-e2e-service-'));
  const password = randomBytes(12).toString('hex');
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--conditions=updraft-source',
      '--import',
      'tsx',
      join(root, 'packages/cli/src/bin.ts'),
      'server',
      'start',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--data-dir',
      join(dir, 'server'),
    ],
    {
      cwd: root,
      // The embedded MQTT broker on any free port: services of several tests run side by side.
      env: { ...process.env, UPDRAFT_ADMIN_PASSWORD: password, UPDRAFT_MQTT_PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const close = async () => {
    child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 200));
    if (child.exitCode === null) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  };
  let base: string;
  try {
    base = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 50_000);
      const poll = setInterval(() => {
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) {
          clearInterval(poll);
          clearTimeout(timer);
          resolve(m[1]!);
        }
      }, 20);
      child.on('exit', (code) => {
        clearInterval(poll);
        reject(new Error(`server exited ${code}: ${out}`));
      });
    });
  } catch (error) {
    await close();
    throw error;
  }
  const login = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password }),
  });
  const { token } = (await login.json()) as { token: string };
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  return {
    base,
    dataDir: join(dir, 'server'),
    output: () => out,
    async api<T>(method: string, path: string, body?: unknown): Promise<T> {
      const res = await fetch(`${base}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
      return JSON.parse(text) as T;
    },
    async metric(sample: string): Promise<number> {
      const text = await (await fetch(`${base}/metrics`, { headers })).text();
      const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
      return line === undefined ? 0 : Number(line.slice(sample.length + 1));
    },
    close,
  };
}
