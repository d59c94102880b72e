import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { OpensslCa } from '@updraft/core/testing';
import { freePort, isAccepting } from './ports.js';

/** A running mosquitto with the configuration of docs/mqtt.md. */
export interface Mosquitto {
  readonly port: number;
  readonly url: string;
  readonly log: () => string;
  stop(): Promise<void>;
}

/**
 * Starts the real `mosquitto` on a free port with the docs/mqtt.md configuration: TLS 1.3,
 * client certificates required, subject as username, the device ACL patterns, the service user
 * `serviceUser` with readwrite on `updraft/v1/#`, and `crlFile`.
 */
export async function startMosquitto(options: {
  readonly ca: OpensslCa;
  readonly serverCert: { certFile: string; keyFile: string };
  readonly serviceUser: string;
  readonly crlFile: string;
}): Promise<Mosquitto> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-mosquitto-'));
  await chmod(dir, 0o755);
  const port = await freePort();
  const acl = path.join(dir, 'updraft.acl');
  await writeFile(
    acl,
    [
      `user ${options.serviceUser}`,
      'topic readwrite updraft/v1/#',
      '',
      'pattern read updraft/v1/%u/notify',
      'pattern read updraft/v1/%u/res',
      'pattern write updraft/v1/%u/req',
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  const conf = path.join(dir, 'mosquitto.conf');
  await writeFile(
    conf,
    [
      'per_listener_settings false',
      'allow_anonymous false',
      'persistence false',
      `listener ${port} 127.0.0.1`,
      `cafile ${options.ca.certFile}`,
      `certfile ${options.serverCert.certFile}`,
      `keyfile ${options.serverCert.keyFile}`,
      'require_certificate true',
      'use_subject_as_username true',
      'tls_version tlsv1.3',
      `crlfile ${options.crlFile}`,
      `acl_file ${acl}`,
      'log_dest stderr',
      'log_type all',
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  const child: ChildProcess = spawn('mosquitto', ['-c', conf], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout?.on('data', (d) => (log += String(d)));
  child.stderr?.on('data', (d) => (log += String(d)));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (await isAccepting(port)) break;
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`mosquitto did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    url: `mqtts://localhost:${port}`,
    log: () => log,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}
