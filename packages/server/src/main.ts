import { buildServer, type ServerDeps } from './build-server.js';
import type { ServerConfig } from './config/config.js';
import type { UpdraftApp } from './http/app-types.js';

/** A listening server. */
export interface RunningServer {
  readonly app: UpdraftApp;
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  /** Stops accepting connections, drains requests (bounded by `shutdownTimeoutMs`), closes the DB. */
  close(): Promise<void>;
}

/** Options of {@link startServer}. */
export interface StartServerOptions extends ServerDeps {
  /** Install SIGTERM/SIGINT handlers that close gracefully (default true). */
  readonly handleSignals?: boolean;
}

/**
 * Builds the server and listens on `config.host:config.port`; prints the address once.
 * Used by `updraft server start` and `npm start`.
 *
 * @example
 * const server = await startServer(loadConfig({ env: process.env }));
 */
export async function startServer(
  config: ServerConfig,
  options: StartServerOptions = {},
): Promise<RunningServer> {
  const app = await buildServer(config, options);
  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host}:${port}`;
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  // Where to go next: a new user's first question after `npm start`.
  print(`Updraft server listening on ${url}`);
  print(
    `  API:     ${url}/api/v1   (OpenAPI: ${url}/api/openapi.json, browsable: ${url}/api/docs)`,
  );
  print(
    `  Log in:  npx updraft login --server ${url} --username ${config.auth.adminUsername} --password-stdin`,
  );

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      const timer = setTimeout(() => {
        app.log.error('graceful shutdown timed out; closing connections');
        app.server.closeAllConnections();
      }, config.shutdownTimeoutMs);
      timer.unref();
      try {
        await app.close();
      } finally {
        clearTimeout(timer);
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
      }
    })();
    return closing;
  };
  const onSignal = (signal: NodeJS.Signals) => {
    app.log.info({ signal }, 'shutting down');
    close().then(
      () => process.exit(0),
      (error: unknown) => {
        app.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  if (options.handleSignals !== false) {
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
  return { app, url, close };
}
