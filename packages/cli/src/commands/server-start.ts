import type { Writable } from 'node:stream';
import type { CommandArgs } from '../command-args.js';
import type { CommandContext } from '../command-context.js';
import { EXIT_CODES, type ExitCode } from '../exit-codes.js';

/**
 * `updraft server start [--config <file>] [--host] [--port] [--data-dir] [--tls]`: runs the update service
 * in this process until SIGINT/SIGTERM, then shuts it down gracefully.
 */
export async function run(ctx: CommandContext, args: CommandArgs): Promise<ExitCode> {
  const { loadConfig, startServer } = await import('@updraft/server');
  const overrides: Record<string, unknown> = {};
  const host = args.string('host');
  const port = args.integer('port', 65535);
  const dataDir = args.string('data-dir');
  if (host !== undefined) overrides.host = host;
  if (port !== undefined) overrides.port = port;
  if (dataDir !== undefined) overrides.dataDir = dataDir;
  // Only an explicit --tls overrides the file and UPDRAFT_TLS (a flag cannot say "false").
  if (args.flag('tls')) overrides.tls = { enabled: true };
  const file = args.string('config');
  const config = loadConfig({
    env: ctx.io.env,
    cwd: ctx.io.cwd,
    overrides,
    ...(file === undefined ? {} : { file }),
  });
  const stderr = ctx.io.stderr as Partial<Writable>;
  const server = await startServer(config, {
    handleSignals: false,
    // One JSON document on stdout in --json mode: the service's logs go to stderr then.
    ...(ctx.json && typeof stderr.on === 'function' ? { logStream: stderr as Writable } : {}),
    // A generated first password is printed only to a person at a terminal (never into a log).
    printIsTerminal: !ctx.json && ctx.io.stdout.isTTY === true,
    print: (line) => {
      // One JSON document in --json mode: human lines (address, one-time credentials) go to stderr.
      (ctx.json ? ctx.io.stderr : ctx.io.stdout).write(`${line}\n`);
    },
  });
  const signal = ctx.io.signal;
  if (signal !== undefined && !signal.aborted) {
    await new Promise<void>((resolve) =>
      signal.addEventListener('abort', () => resolve(), { once: true }),
    );
  }
  await server.close();
  ctx.result({ url: server.url, stopped: true }, '');
  return EXIT_CODES.ok;
}
