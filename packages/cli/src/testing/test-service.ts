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
