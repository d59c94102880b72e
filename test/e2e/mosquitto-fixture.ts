import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, isAccepting } from '../../packages/server/src/testing/ports.js';

/** A real `mosquitto` on a free loopback port (plain TCP, anonymous: tests of the API only). */
export interface Mosquitto {
  readonly url: string;
  readonly port: number;
  /** Kills the broker (every client loses its connection). */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
  output(): string;
}

/** Writes a config to a temp dir and starts `mosquitto -c` on it; resolves once it accepts. */
export async function startMosquitto(): Promise<Mosquitto> {
  const dir = await mkdtemp(join(tmpdir(), 'updraft-mosquitto-'));
  const port = await freePort();
  const config = join(dir, 'mosquitto.conf');
  await writeFile(
    config,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      // Payload chunks plus properties; far above what the tests send.
      'max_packet_size 2000000',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      '',
    ].join('\n'),
  );
  let child: ChildProcess | null = null;
  let out = '';
  const start = async () => {
    const proc = spawn('mosquitto', ['-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
    });
    proc.stderr?.on('data', (c: Buffer) => {
      out += c.toString();
    });
    for (let i = 0; i < 200; i++) {
      if (proc.exitCode !== null) throw new Error(`mosquitto exited: ${out}`);
      if (await isAccepting(port)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`mosquitto did not start: ${out}`);
  };
  const stop = async () => {
    const proc = child;
    child = null;
    if (proc === null || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    stop,
    start,
    output: () => out,
    async close() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
