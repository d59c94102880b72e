#!/usr/bin/env node
// The `updraft` executable: the only place that touches the real process (argv, signals, exit).
import { processIo } from './io.js';
import { runCli } from './run-cli.js';

const stop = new AbortController();
const onSignal = () => {
  // A second signal while shutting down exits at once.
  if (stop.signal.aborted) process.exit(130);
  stop.abort();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const code = await runCli(process.argv.slice(2), processIo(stop.signal));
process.off('SIGINT', onSignal);
process.off('SIGTERM', onSignal);
// exitCode rather than exit(): lets buffered stdout drain before the process ends.
process.exitCode = code;
