import { buildServer, type ServerDeps } from './build-server.js';
import type { ServerConfig } from './config/config.js';
import { ServerError } from './errors.js';
import type { UpdraftApp } from './http/app-types.js';

/** A listening server. */
export interface RunningServer {
  readonly app: UpdraftApp;
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  /**
   * Fails readiness for `shutdownDrainMs` while still serving, then stops accepting connections,
   * lets requests in flight finish (bounded by `shutdownTimeoutMs`) and closes the rest.
   */
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
  let mqttPort: number | undefined;
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    await app.close();
    throw listenError(error, config);
  }
  try {
    mqttPort = await app.wiring.mqtt.start();
  } catch (error) {
    await app.close();
    throw listenError(
      error,
      { host: config.mqtt.host, port: config.mqtt.port },
      'UPDRAFT_MQTT_PORT/UPDRAFT_MQTT_HOST (the embedded MQTT broker), or UPDRAFT_MQTT_MODE=off',
    );
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `${config.tls.enabled ? 'https' : 'http'}://${host}:${port}`;
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  // Where to go next: a new user's first question after `npm start`.
  print(`Updraft server listening on ${url}`);
  const tls = app.updraft.serverTls;
  if (tls?.caFile !== undefined) {
    // What devices (and the CLI, via --ca-file or NODE_EXTRA_CA_CERTS) pin.
    print(`  CA:      ${tls.caFile}   (SHA-256 fingerprint ${tls.caFingerprint})`);
  }
  print(
    `  API:     ${url}/api/v1   (OpenAPI: ${url}/api/openapi.json, browsable: ${url}/api/docs)`,
  );
  if (app.dashboard.built) print(`  Dashboard: ${url}/`);
  if (mqttPort !== undefined)
    print(`  MQTT:    mqtts://${config.mqtt.host}:${mqttPort}   (embedded broker, docs/mqtt.md)`);
  print(
    `  Log in:  npx --no-install updraft login --server ${url}${tls?.caFile !== undefined ? ` --ca-file ${tls.caFile}` : ''} --username ${config.auth.adminUsername} --password-stdin`,
  );

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      // Readiness fails first; requests are still served for `shutdownDrainMs`, each answered
      // with `connection: close`, so the balancer and keep-alive clients move elsewhere.
      app.updraft.drain.begin();
      if (config.shutdownDrainMs > 0) {
        app.log.info({ drainMs: config.shutdownDrainMs }, 'draining: /readyz answers 503');
        await new Promise((resolve) => setTimeout(resolve, config.shutdownDrainMs));
      }
      // Then the listener closes; requests in flight finish, bounded by `shutdownTimeoutMs`.
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
      print(`Updraft server on ${url} stopped`);
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

// A port someone else holds is an operator's mistake, not a crash: one line that says which.
function listenError(
  error: unknown,
  config: Pick<ServerConfig, 'host' | 'port'>,
  // How the operator picks another address for this listener.
  remedy = '--port/--host or UPDRAFT_PORT/UPDRAFT_HOST',
): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
    const why =
      code === 'EADDRINUSE'
        ? 'is already in use (another server listens there)'
        : code === 'EACCES'
          ? 'may not be used by this user (ports below 1024 need privileges)'
          : 'is not an address of this machine';
    return new ServerError(
      'LISTEN_ADDRESS_UNAVAILABLE',
      `cannot listen on ${config.host} port ${config.port}: it ${why}; choose another with ${remedy}`,
      {
        cause: error,
        details: { host: config.host, port: config.port, reason: code },
        exposable: true,
      },
    );
  }
  return error;
}
