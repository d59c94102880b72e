import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, isAccepting } from './ports.js';

/** The two load balancers the repository ships a configuration for (deploy/). */
export type LoadBalancerKind = 'haproxy' | 'nginx';

/** A load balancer process in front of some replicas, on a loopback port. */
export interface LoadBalancer {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** The main process (HAProxy: the only one; nginx: the master). */
  readonly pid: number;
  /** The configuration it runs (the repository's file with the marked blocks replaced). */
  readonly config: string;
  /** Everything it printed. */
  output(): string;
  stop(): Promise<void>;
}

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));

/** The repository's configuration file for `kind` (what operators copy). */
export function loadBalancerConfigFile(kind: LoadBalancerKind): string {
  return kind === 'haproxy'
    ? path.join(repoRoot, 'deploy/haproxy/haproxy.cfg')
    : path.join(repoRoot, 'deploy/nginx/updraft.conf');
}

const BINARIES: Record<LoadBalancerKind, string> = {
  haproxy: '/usr/sbin/haproxy',
  nginx: '/usr/sbin/nginx',
};

/** Why `kind` cannot run here (its binary is missing), or `undefined` when it can. */
export function loadBalancerUnavailableReason(kind: LoadBalancerKind): string | undefined {
  try {
    execFileSync(BINARIES[kind], kind === 'haproxy' ? ['-v'] : ['-v'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return `${kind} is not installed (${BINARIES[kind]}); .ci/run installs it`;
  }
}

/** Replaces the block between `# BEGIN <name>` and `# END <name>` (marker lines included). */
function replaceBlock(text: string, name: string, lines: readonly string[]): string {
  const pattern = new RegExp(
    `^([ \\t]*)# BEGIN ${name}\\b[^\\n]*\\n[\\s\\S]*?^[ \\t]*# END ${name}[^\\n]*$`,
    'm',
  );
  const match = pattern.exec(text);
  if (!match) throw new Error(`configuration has no "# BEGIN ${name}" … "# END ${name}" block`);
  const indent = match[1] ?? '';
  return text.replace(pattern, lines.map((l) => `${indent}${l}`).join('\n'));
}

/**
 * The repository's configuration for `kind` with its two marked blocks (`listen`, `backend
 * servers`) replaced: listening on 127.0.0.1:`port`, proxying to `backends` (`host:port`).
 * Everything else (health checks, timeouts, headers, limits) is used as shipped.
 */
export function renderLoadBalancerConfig(
  kind: LoadBalancerKind,
  text: string,
  port: number,
  backends: readonly string[],
): string {
  if (kind === 'haproxy') {
    const withListen = replaceBlock(text, 'listen', [`bind 127.0.0.1:${port}`]);
    return replaceBlock(
      withListen,
      'backend servers',
      backends.map((b, i) => `server replica${i + 1} ${b}`),
    );
  }
  const withListen = replaceBlock(text, 'listen', [`listen 127.0.0.1:${port};`]);
  return replaceBlock(
    withListen,
    'backend servers',
    backends.map((b) => `server ${b} max_fails=1 fail_timeout=10s;`),
  );
}

/**
 * Starts HAProxy or nginx in the foreground with the repository's configuration (see
 * {@link renderLoadBalancerConfig}) in front of `backends`, and resolves once it accepts
 * connections. nginx's file is an `http {}` include: it runs inside a minimal main configuration
 * (pid, logs and temp paths in a temporary directory).
 */
export async function startLoadBalancer(
  kind: LoadBalancerKind,
  backends: readonly string[],
): Promise<LoadBalancer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `updraft-${kind}-`));
  const port = await freePort();
  const config = renderLoadBalancerConfig(
    kind,
    await readFile(loadBalancerConfigFile(kind), 'utf8'),
    port,
    backends,
  );
  let args: string[];
  if (kind === 'haproxy') {
    const file = path.join(dir, 'haproxy.cfg');
    await writeFile(file, config);
    args = ['-db', '-f', file];
  } else {
    const include = path.join(dir, 'updraft.conf');
    await writeFile(include, config);
    const main = path.join(dir, 'nginx.conf');
    const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
    await writeFile(
      main,
      [
        'daemon off;',
        'worker_processes 2;',
        // As root, nginx's workers would switch to `nobody`, who cannot write this directory.
        ...(isRoot ? ['user root;'] : []),
        `pid ${dir}/nginx.pid;`,
        `error_log ${dir}/error.log warn;`,
        'events { worker_connections 8192; }',
        'http {',
        '  access_log off;',
        ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
          (t) => `  ${t}_temp_path ${dir}/${t};`,
        ),
        `  include ${include};`,
        '}',
        '',
      ].join('\n'),
    );
    args = ['-p', dir, '-c', main];
  }
  const child: ChildProcess = spawn(BINARIES[kind], args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (c) => {
    out += String(c);
  });
  child.stderr?.on('data', (c) => {
    out += String(c);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  while (!(await isAccepting(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`${kind} did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid ?? 0,
    config,
    output: () => out,
    stop,
  };
}
