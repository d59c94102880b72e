import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { loadConfig, type RunningServer, type ServerConfig, startServer } from '@updraft/server';

/** Settings a test may change on top of the test defaults (loopback, port 0, silent, no limits). */
export type TestServiceOverrides = NonNullable<Parameters<typeof loadConfig>[0]>['overrides'];

/**
 * A real update service on 127.0.0.1 (port 0) for CLI tests: its data in `dataDir`, the admin's
 * password chosen, logs and banner silenced, rate limits off (tests send bursts). Close it with
 * `close()`.
 */
export function startTestService(options: {
  readonly dir: string;
  readonly adminPassword: string;
  readonly dataDir?: string;
  readonly overrides?: TestServiceOverrides;
}): Promise<RunningServer> {
  const overrides: TestServiceOverrides = {
    host: '127.0.0.1',
    port: 0,
    mqtt: { port: 0 },
    dataDir: options.dataDir ?? join(options.dir, 'data'),
    logLevel: 'silent',
    auth: { adminPassword: options.adminPassword },
    rateLimit: { enabled: false },
    ...options.overrides,
  };
  const config: ServerConfig = loadConfig({ env: {}, cwd: options.dir, overrides });
  return startServer(config, {
    handleSignals: false,
    print: () => {},
    logStream: new PassThrough(),
  });
}

/** The admin's bearer token and a JSON caller of the management API with it (test setup). */
export interface AdminApi {
  readonly token: string;
  call<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T>;
}

/** Logs the admin in over HTTP; `call` throws on any non-2xx answer, naming it. */
export async function adminApi(server: RunningServer, password: string): Promise<AdminApi> {
  const login = await fetch(`${server.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password }),
  });
  if (!login.ok) throw new Error(`admin login: ${login.status} ${await login.text()}`);
  const { token } = (await login.json()) as { token: string };
  return {
    token,
    async call<T>(method: string, path: string, body?: unknown): Promise<T> {
      const res = await fetch(`${server.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
      return JSON.parse(text) as T;
    },
  };
}
