import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { freePort, isAccepting } from './ports.js';

/**
 * A real S3-protocol server on loopback for tests: `s3rver` (npm) started as its own process,
 * with one bucket. s3rver speaks the S3 REST protocol with SigV4 checks, multipart uploads,
 * Range reads and pre-signed URLs; its gaps are listed in docs/deployment.md ("Object storage").
 * The S3 adapter must work against it unchanged: nothing in `adapters/s3` knows it is s3rver.
 */
export interface TestS3Server {
  /** `http://127.0.0.1:<port>` (path-style addressing). */
  readonly endpoint: string;
  readonly bucket: string;
  readonly region: string;
  /** s3rver's fixed credentials. */
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly port: number;
  /** The `s3` config section that reaches this server (for `loadConfig` overrides). */
  readonly config: {
    endpoint: string;
    region: string;
    bucket: string;
    accessKeyId: string;
    secretAccessKey: string;
    forcePathStyle: boolean;
  };
  /** Stops the process (SIGKILL models an unreachable store); `start` runs it again, same data. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  start(): Promise<void>;
  /** Stops it and removes its data directory. */
  dispose(): Promise<void>;
}

const require = createRequire(import.meta.url);

/** Path of s3rver's command-line entry (a devDependency of the repository). */
function s3rverBin(): string {
  return path.join(path.dirname(require.resolve('s3rver/package.json')), 'bin', 's3rver.js');
}

/**
 * Starts s3rver on a free loopback port with a fresh data directory and bucket `bucket`.
 *
 * @example
 * const s3 = await startS3Server();
 * const store = new S3BlobStore({ ...s3.config, prefix: 'blobs/' });
 * await s3.dispose();
 */
export async function startS3Server(bucket = 'updraft-test'): Promise<TestS3Server> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-s3-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  let output = '';

  const start = async () => {
    output = '';
    const started = spawn(
      process.execPath,
      [
        s3rverBin(),
        '--directory',
        dir,
        '--address',
        '127.0.0.1',
        '--port',
        String(port),
        '--silent',
        '--no-vhost-buckets',
        '--configure-bucket',
        bucket,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = started;
    started.stdout?.on('data', (chunk) => {
      output += String(chunk);
    });
    started.stderr?.on('data', (chunk) => {
      output += String(chunk);
    });
    const deadline = Date.now() + 20_000;
    while (!(await isAccepting(port))) {
      if (started.exitCode !== null) {
        throw new Error(`s3rver exited with ${started.exitCode} before listening:\n${output}`);
      }
      if (Date.now() > deadline) {
        started.kill('SIGKILL');
        throw new Error(`s3rver did not listen on ${port} within 20 s:\n${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const running = child;
    child = undefined;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = once(running, 'exit');
    running.kill(signal);
    await exited;
  };

  await start();
  const endpoint = `http://127.0.0.1:${port}`;
  const region = 'us-east-1';
  const accessKeyId = 'S3RVER';
  const secretAccessKey = 'S3RVER';
  return {
    endpoint,
    bucket,
    region,
    accessKeyId,
    secretAccessKey,
    port,
    config: { endpoint, region, bucket, accessKeyId, secretAccessKey, forcePathStyle: true },
    stop,
    start,
    async dispose() {
      await stop('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}
