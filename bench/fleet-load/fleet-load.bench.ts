// Fleet load: N registered devices polling one or two real server processes, on SQLite or PostgreSQL
//
// Run: npm run bench:fleet-load -- [--devices 100000] [--interval 60] [--dialect sqlite|postgres]
//      [--replicas 1|2] [--seconds 60] [--warmup <interval>] [--generators 2]
//      [--campaign-fraction 0.01] [--sockets 64] [--pool-max 10] [--session-cache <n>] [--profile]
//      [--replica-cpu <cores>]
//
// Registers N devices in set-based SQL (seed-devices.ts), starts the real `updraft server start`
// (1 process, or 2 behind HAProxy running deploy/haproxy/haproxy.cfg) with production defaults
// (rate limits on; the poll interval told to devices = --interval), uploads one small release,
// then K load-generator processes (load-generator.ts) each drive N/K devices. After a warm-up of
// one interval (every device's first poll, at a random phase, fills its cached session), the
// campaign fraction gets an action through the API and the measured window starts. Measures:
// polls/s, p50/p99 (merged histograms), errors, CPU seconds and RSS of every server process
// (/proc), the generators' and PostgreSQL's CPU, database size at the window's start and end.
// Prints one `fleet-load …` line; writes bench/results/fleet-load-<dialect>-<n>r-<devices>.json.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { loadConfig } from '../../packages/server/src/config/config.ts';
import { createDatabase } from '../../packages/server/src/db/create-database.ts';
import { issueToken } from '../../packages/server/src/features/users/token.repository.ts';
import { createUser } from '../../packages/server/src/features/users/user.repository.ts';
import {
  type LoadBalancer,
  startLoadBalancer,
} from '../../packages/server/src/testing/load-balancer.ts';
import {
  componentHex,
  seedFleet,
  signedEnvelope,
} from '../../packages/server/src/testing/release-fixtures.ts';
import { arg } from '../args.ts';
import { count, merge, newHistogram, percentileMs } from './histogram.ts';
import type { GeneratorJob, GeneratorResult } from './load-generator.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const PG_URL = process.env.UPDRAFT_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TENANT = 'ten_default';
const ADMIN_PASSWORD = 'bench-admin-password-0123';
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

const options = {
  devices: Number(arg('devices', '100000')),
  intervalS: Number(arg('interval', '60')),
  dialect: arg('dialect', 'postgres') as 'sqlite' | 'postgres',
  replicas: Number(arg('replicas', '1')),
  seconds: Number(arg('seconds', '60')),
  warmupS: Number(arg('warmup', arg('interval', '60'))),
  generators: Number(arg('generators', '2')),
  campaignFraction: Number(arg('campaign-fraction', '0.01')),
  socketsPerGenerator: Number(arg('sockets', '64')),
  poolMax: Number(arg('pool-max', '10')),
  sessionCacheEntries: arg('session-cache', ''),
  profile: process.argv.includes('--profile'),
  /** Caps each server process at this many cores (a cgroup of its own; 0: no cap). */
  replicaCpu: Number(arg('replica-cpu', '0')),
};
if (options.dialect !== 'sqlite' && options.dialect !== 'postgres')
  throw new Error('--dialect is sqlite or postgres');
if (options.replicas !== 1 && options.replicas !== 2) throw new Error('--replicas is 1 or 2');
if (options.replicas === 2 && options.dialect !== 'postgres')
  throw new Error('two replicas share one PostgreSQL database: --dialect postgres');

const REPORT_BEFORE = {
  components: [{ id: componentHex(0), version: '1.2.0', sequenceNumber: 12 }],
};
const REPORT_AFTER = {
  components: [{ id: componentHex(0), version: '1.3.0', sequenceNumber: 13 }],
};

// --- /proc ------------------------------------------------------------------------------------
function cpuSecondsOf(pid: number): Promise<number> {
  return readFile(`/proc/${pid}/stat`, 'utf8').then((text) => {
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime, stime
  });
}

async function memoryOf(pid: number): Promise<{ rssMiB: number; peakRssMiB: number }> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { rssMiB: round(kib('VmRSS') / 1024, 1), peakRssMiB: round(kib('VmHWM') / 1024, 1) };
}

/** The PostgreSQL backends serving this run's servers (their `application_name`). */
async function postgresPids(applicationName: string): Promise<number[]> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE application_name = $1',
      [applicationName],
    );
    return rows.map((r) => r.pid);
  } finally {
    await client.end();
  }
}

async function cpuOfAll(pids: readonly number[]): Promise<number> {
  let total = 0;
  for (const pid of pids) total += await cpuSecondsOf(pid).catch(() => 0);
  return total;
}

/** CPU seconds per process, for a delta over the processes alive at both ends. */
async function cpuByPid(pids: readonly number[]): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const pid of pids) {
    const cpu = await cpuSecondsOf(pid).catch(() => undefined);
    if (cpu !== undefined) out.set(pid, cpu);
  }
  return out;
}

function cpuDelta(start: Map<number, number>, end: Map<number, number>): number {
  let total = 0;
  // A process missing at the start was born in the window (a pool reconnected): all its CPU counts.
  for (const [pid, cpu] of end) total += cpu - (start.get(pid) ?? 0);
  return total;
}

/** Busy CPU seconds of the whole machine (all processes, all cores) from /proc/stat. */
async function machineBusySeconds(): Promise<number> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!;
  const [user, nice, system, , , irq, softirq, steal] = line.split(/\s+/).slice(1).map(Number);
  return (
    ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) /
    CLK_TCK
  );
}

function round(n: number, digits = 2): number {
  return Number(n.toFixed(digits));
}

// --- the server ---------------------------------------------------------------------------------
interface Server {
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/** `updraft server start` from sources (the CLI's own entry), configured by UPDRAFT_* variables. */
async function startServer(env: Record<string, string>, profileDir?: string): Promise<Server> {
  const child = spawn(
    process.execPath,
    [
      ...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []),
      '--conditions=updraft-source',
      '--import',
      'tsx',
      path.join(root, 'packages/cli/src/bin.ts'),
      'server',
      'start',
    ],
    {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout?.on('data', (c) => {
    out += String(c);
  });
  child.stderr?.on('data', (c) => {
    out += String(c);
    if (out.length > 100_000) out = out.slice(-50_000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 120_000);
    const poll = setInterval(() => {
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        clearInterval(poll);
        resolve(m[1]);
      }
    }, 50);
    void exited.then(() => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`server exited before listening:\n${out}`));
    });
  });
  return {
    url,
    child,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

// --- CPU caps ---------------------------------------------------------------------------------
/**
 * Caps a process at `cores` of CPU with a cgroup of its own (v1 `cpu` controller, or v2): on a
 * 2-core machine that shares its cores with PostgreSQL and the load generators, capped replicas
 * are what shows throughput adding up with replicas. Needs root (or a delegated cgroup).
 */
async function capCpu(pid: number, cores: number, name: string): Promise<() => Promise<void>> {
  const v1 = '/sys/fs/cgroup/cpu';
  const v2 = '/sys/fs/cgroup';
  const isV1 = await stat(`${v1}/cgroup.procs`).then(
    () => true,
    () => false,
  );
  const dir = isV1 ? `${v1}/${name}` : `${v2}/${name}`;
  const period = 100_000;
  const quota = Math.max(1_000, Math.round(cores * period));
  // The group can go once its process has exited (or when setting it up failed half-way).
  const remove = () => rmdir(dir).catch(() => undefined);
  try {
    await mkdir(dir);
    if (isV1) {
      await writeFile(`${dir}/cpu.cfs_period_us`, String(period));
      await writeFile(`${dir}/cpu.cfs_quota_us`, String(quota));
    } else {
      await writeFile(`${dir}/cpu.max`, `${quota} ${period}`);
    }
    await writeFile(`${dir}/cgroup.procs`, String(pid));
  } catch (error) {
    await remove();
    throw new Error(`--replica-cpu needs a writable cgroup (${dir}): ${(error as Error).message}`);
  }
  return remove;
}

// --- database size ------------------------------------------------------------------------------
async function databaseBytes(env: Record<string, string>, schema: string): Promise<number> {
  if (options.dialect === 'postgres') {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      const { rows } = await client.query(
        `SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0)::bigint AS n FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('r', 'm')`,
        [schema],
      );
      return Number(rows[0].n);
    } finally {
      await client.end();
    }
  }
  const file = env.UPDRAFT_DATABASE_SQLITE_FILE!;
  return (await sqliteFileBytes(file)) + (await sqliteFileBytes(`${file}-wal`));
}

const sqliteFileBytes = async (f: string) => (await stat(f).catch(() => ({ size: 0 }))).size;

// --- setup through the service's own code and API -------------------------------------------------
async function seed(env: Record<string, string>, schema: string, tokenPrefix: string) {
  const config = loadConfig({ env });
  const handle = await createDatabase(config.database);
  try {
    const fleet = await seedFleet(handle.db, {
      tenantId: TENANT,
      deviceCount: 0,
      className: 'fleet-load',
    });
    const now = new Date().toISOString();
    const admin = await handle.db.transaction().execute(async (trx) => {
      const user = await createUser(
        trx,
        TENANT,
        { username: 'fleet-load', passwordHash: 'x', roles: ['admin'] },
        now,
      );
      return (
        await issueToken(
          trx,
          TENANT,
          { userId: user.id, kind: 'api', name: 'fleet-load', expiresAt: null },
          now,
        )
      ).token;
    });
    const started = performance.now();
    await handle.close();
    const { seedPostgres, seedSpecOf, seedSqlite } = await import('./seed-devices.ts');
    const spec = seedSpecOf(
      {
        count: options.devices,
        tenantId: TENANT,
        deviceClassId: fleet.deviceClassId,
        tokenPrefix,
      },
      REPORT_BEFORE,
    );
    if (options.dialect === 'postgres') await seedPostgres(PG_URL, schema, spec);
    else seedSqlite(env.UPDRAFT_DATABASE_SQLITE_FILE!, spec);
    const seedSeconds = round((performance.now() - started) / 1000, 1);
    return { fleet, admin, seedSeconds };
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}

async function api(base: string, admin: string, method: string, url: string, body: unknown) {
  const res = await fetch(`${base}${url}`, {
    method,
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url} answered ${res.status}: ${text}`);
  return JSON.parse(text) as { id: string };
}

/** What the servers' /metrics say: request-duration buckets by `METHOD route`, GC, loop lag. */
interface Scrape {
  readonly routes: Map<string, Map<string, number>>;
  /** Cumulative GC pauses by kind (major, minor, incremental, weakcb): count and seconds. */
  readonly gc: Map<string, { count: number; seconds: number }>;
  /** Event-loop delay since the previous scrape (prom-client resets it): worst server. */
  readonly loopLagP99Ms: number;
  readonly loopLagMaxMs: number;
}

async function scrape(urls: readonly string[], admin: string): Promise<Scrape> {
  const routes = new Map<string, Map<string, number>>();
  const gc = new Map<string, { count: number; seconds: number }>();
  let loopLagP99Ms = 0;
  let loopLagMaxMs = 0;
  for (const url of urls) {
    const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${admin}` } });
    if (!res.ok) continue;
    for (const line of (await res.text()).split('\n')) {
      const m = /^(\w+)(?:\{(.*)\})? ([\d.e+-]+)$/.exec(line);
      if (m === null) continue;
      const [, name, labelText, value] = m as unknown as [
        string,
        string,
        string | undefined,
        string,
      ];
      const labels = Object.fromEntries(
        [...(labelText ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!]),
      );
      if (name === 'updraft_http_request_duration_seconds_bucket') {
        const key = `${labels.method} ${labels.route}`;
        const buckets = routes.get(key) ?? new Map<string, number>();
        buckets.set(labels.le!, (buckets.get(labels.le!) ?? 0) + Number(value));
        routes.set(key, buckets);
      } else if (
        name === 'updraft_nodejs_gc_duration_seconds_count' ||
        name === 'updraft_nodejs_gc_duration_seconds_sum'
      ) {
        const entry = gc.get(labels.kind!) ?? { count: 0, seconds: 0 };
        if (name.endsWith('_count')) entry.count += Number(value);
        else entry.seconds += Number(value);
        gc.set(labels.kind!, entry);
      } else if (name === 'updraft_nodejs_eventloop_lag_p99_seconds') {
        loopLagP99Ms = Math.max(loopLagP99Ms, Number(value) * 1000);
      } else if (name === 'updraft_nodejs_eventloop_lag_max_seconds') {
        loopLagMaxMs = Math.max(loopLagMaxMs, Number(value) * 1000);
      }
    }
  }
  return { routes, gc, loopLagP99Ms, loopLagMaxMs };
}

/** GC pauses in the window by kind, from two scrapes. */
function gcWindow(start: Scrape, end: Scrape): Record<string, { count: number; seconds: number }> {
  const out: Record<string, { count: number; seconds: number }> = {};
  for (const [kind, e] of end.gc) {
    const s = start.gc.get(kind) ?? { count: 0, seconds: 0 };
    out[kind] = { count: e.count - s.count, seconds: round(e.seconds - s.seconds, 3) };
  }
  return out;
}

/**
 * Server-side durations in the window, per route: requests, and the share answered within
 * 10 ms, 100 ms and 1 s (from the servers' own histograms: time in the server, no client queue).
 */
function routeWindow(
  start: Map<string, Map<string, number>>,
  end: Map<string, Map<string, number>>,
): Record<string, { requests: number; within10ms: number; within100ms: number; within1s: number }> {
  const out: Record<
    string,
    { requests: number; within10ms: number; within100ms: number; within1s: number }
  > = {};
  for (const [route, buckets] of end) {
    const diff = (le: string) => (buckets.get(le) ?? 0) - (start.get(route)?.get(le) ?? 0);
    const requests = diff('+Inf');
    if (requests <= 0) continue;
    out[route] = {
      requests,
      within10ms: round(diff('0.01') / requests, 4),
      within100ms: round(diff('0.1') / requests, 4),
      within1s: round(diff('1') / requests, 4),
    };
  }
  return out;
}

/**
 * PostgreSQL over the window, sampled every 250 ms: per second, the most of this run's backends
 * active and idle in a transaction, what active ones waited on, and any autovacuum or checkpoint
 * at work. Lines a slow second in the generators' timelines up with what the database was doing.
 */
interface PostgresSecond {
  active: number;
  idleInTransaction: number;
  waits: Record<string, number>;
  autovacuum: string[];
  checkpoint: boolean;
}

function samplePostgres(applicationName: string, from: number, seconds: number) {
  const timeline: PostgresSecond[] = Array.from({ length: seconds }, () => ({
    active: 0,
    idleInTransaction: 0,
    waits: {},
    autovacuum: [],
    checkpoint: false,
  }));
  const client = new pg.Client({ connectionString: PG_URL });
  let stop = false;
  const done = (async () => {
    await client.connect();
    const checkpoints = async () =>
      Number(
        (
          await client.query<{ n: string }>(
            'SELECT checkpoints_timed + checkpoints_req AS n FROM pg_stat_bgwriter',
          )
        ).rows[0]!.n,
      );
    let lastCheckpoints = await checkpoints();
    while (!stop) {
      const second = timeline[Math.floor((Date.now() - from) / 1000)];
      const { rows } = await client.query<{
        application_name: string;
        backend_type: string;
        state: string | null;
        wait: string | null;
        query: string;
      }>(
        `SELECT application_name, backend_type, state, query,
                CASE WHEN wait_event IS NULL THEN NULL ELSE wait_event_type || ':' || wait_event END AS wait
         FROM pg_stat_activity WHERE application_name = $1 OR backend_type IN ('autovacuum worker', 'checkpointer')`,
        [applicationName],
      );
      const now = await checkpoints();
      if (second !== undefined) {
        let active = 0;
        let idleInTransaction = 0;
        for (const r of rows) {
          if (r.backend_type === 'autovacuum worker' && r.query) {
            const table =
              /VACUUM[^"]*?(\w+\.)?"?(\w+)"?/i.exec(r.query)?.[2] ?? r.query.slice(0, 40);
            if (!second.autovacuum.includes(table)) second.autovacuum.push(table);
          }
          if (r.application_name !== applicationName) continue;
          if (r.state === 'active') {
            active++;
            if (r.wait) second.waits[r.wait] = (second.waits[r.wait] ?? 0) + 1;
          } else if (r.state?.startsWith('idle in transaction')) idleInTransaction++;
        }
        second.active = Math.max(second.active, active);
        second.idleInTransaction = Math.max(second.idleInTransaction, idleInTransaction);
        if (now !== lastCheckpoints) second.checkpoint = true;
      }
      lastCheckpoints = now;
      await new Promise((r) => setTimeout(r, 250));
    }
    await client.end();
  })();
  return {
    timeline,
    stop: async () => {
      stop = true;
      await done;
    },
  };
}

// --- generators ---------------------------------------------------------------------------------
function runGenerator(jobFile: string): { child: ChildProcess; done: Promise<GeneratorResult> } {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(here, 'load-generator.ts'), jobFile],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  child.stdout?.on('data', (c) => {
    out += String(c);
  });
  const done = new Promise<GeneratorResult>((resolve, reject) => {
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`load generator exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop()!) as GeneratorResult);
    });
  });
  return { child, done };
}

const sleepUntil = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));

async function main(): Promise<void> {
  const log = (line: string) => process.stderr.write(`[fleet-load] ${line}\n`);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-fleet-load-'));
  const schema = `fleet_load_${randomBytes(4).toString('hex')}`;
  const tokenPrefix = `updraft_device_fl${randomBytes(6).toString('hex')}x`;
  const env: Record<string, string> = {
    UPDRAFT_DATA_DIR: path.join(dir, 'data'),
    UPDRAFT_HOST: '127.0.0.1',
    UPDRAFT_PORT: '0',
    UPDRAFT_LOG_LEVEL: 'warn',
    UPDRAFT_ADMIN_PASSWORD: ADMIN_PASSWORD,
    UPDRAFT_MQTT_PORT: '0',
    UPDRAFT_DEVICE_POLL_INTERVAL_SECONDS: String(options.intervalS),
    // Devices' addresses arrive in X-Forwarded-For (one synthetic address per device, from
    // loopback generators or HAProxy): per-address budgets apply per device, as in the field.
    UPDRAFT_TRUST_PROXY: 'loopback',
    // Production rate limits; only the bench's admin token (which assigns the campaign's
    // actions) gets a budget above the default 1,200 per minute.
    UPDRAFT_RATE_LIMIT_PER_TOKEN: '1000000',
    ...(options.sessionCacheEntries
      ? { UPDRAFT_DEVICE_SESSION_CACHE_ENTRIES: options.sessionCacheEntries }
      : {}),
    ...(options.dialect === 'postgres'
      ? {
          UPDRAFT_DATABASE_KIND: 'postgres',
          // Tagged, so that the backends serving this run (and only they) are measured.
          UPDRAFT_DATABASE_URL: `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}application_name=${schema}`,
          UPDRAFT_DATABASE_SCHEMA: schema,
          UPDRAFT_DATABASE_POOL_MAX: String(options.poolMax),
        }
      : {
          UPDRAFT_DATABASE_KIND: 'sqlite',
          UPDRAFT_DATABASE_SQLITE_FILE: path.join(dir, 'updraft.db'),
        }),
  };
  const servers: Server[] = [];
  const generators: ChildProcess[] = [];
  const uncap: (() => Promise<void>)[] = [];
  let lb: LoadBalancer | undefined;
  try {
    // 1. Migrate (a first start), then register the fleet with the service stopped.
    log(`${options.dialect}: migrating (schema ${schema})…`);
    await (await startServer(env)).stop();
    log(`registering ${options.devices} devices…`);
    const { fleet, admin, seedSeconds } = await seed(env, schema, tokenPrefix);
    log(`registered in ${seedSeconds} s`);

    // 2. The replicas (one shared data directory: the blob store, like a shared volume).
    const profileDir = options.profile
      ? path.join(os.tmpdir(), 'updraft-fleet-load-profiles')
      : undefined;
    if (profileDir) {
      await mkdir(profileDir, { recursive: true });
      log(`server CPU profiles (--cpu-prof) go to ${profileDir}`);
    }
    for (let i = 0; i < options.replicas; i++) servers.push(await startServer(env, profileDir));
    // Capped once listening: start-up (migrations, module loading) runs at full speed.
    if (options.replicaCpu > 0) {
      for (const [i, server] of servers.entries())
        uncap.push(await capCpu(server.child.pid!, options.replicaCpu, `${schema}-${i}`));
      log(`each server capped at ${options.replicaCpu} of a core`);
    }
    if (options.replicas > 1) {
      lb = await startLoadBalancer(
        'haproxy',
        servers.map((s) => new URL(s.url).host),
      );
      log(`HAProxy ${lb.url} → ${servers.map((s) => s.url).join(', ')}`);
    }
    const baseUrl = lb?.url ?? servers[0]!.url;

    // 3. One small release (64 KiB payload), signed, uploaded through the API.
    const payload = randomBytes(64 * 1024);
    const envelope = await signedEnvelope(fleet, fleet.key, 13, [payload], '1.3.0');
    const release = await api(baseUrl, admin, 'POST', '/api/v1/releases', {
      deviceClassId: fleet.deviceClassId,
      envelope: Buffer.from(envelope).toString('base64'),
      payloads: [{ data: payload.toString('base64') }],
    });

    // 4. The generators, all starting at one instant.
    const k = options.generators;
    const startAt = Date.now() + 3_000;
    const stride =
      options.campaignFraction > 0 ? Math.max(1, Math.round(1 / options.campaignFraction)) : 0;
    const running: { child: ChildProcess; done: Promise<GeneratorResult> }[] = [];
    for (let g = 0; g < k; g++) {
      const job: GeneratorJob = {
        baseUrl,
        tokenPrefix,
        from: Math.floor((g * options.devices) / k),
        to: Math.floor(((g + 1) * options.devices) / k),
        campaignStride: stride,
        intervalS: options.intervalS,
        startAt,
        warmupS: options.warmupS,
        measureS: options.seconds,
        sockets: options.socketsPerGenerator,
        timeoutMs: 10_000,
        reportBefore: JSON.stringify(REPORT_BEFORE),
        reportAfter: JSON.stringify(REPORT_AFTER),
      };
      const file = path.join(dir, `job-${g}.json`);
      await writeFile(file, JSON.stringify(job));
      const run = runGenerator(file);
      running.push(run);
      generators.push(run.child);
    }
    const serverPids = servers.map((s) => s.child.pid!);
    const generatorPids = generators.map((c) => c.pid!);
    log(`${k} generators, warm-up ${options.warmupS} s, then ${options.seconds} s measured`);
    // The figures are only as good as the machine is quiet: other work on these cores shows up
    // as queueing in the warm-up and as a tail in the window (a busy core alone turned p99 8 ms
    // into 3.9 s at 100,000 devices).
    const [load] = os.loadavg();
    if (load! > os.cpus().length)
      log(
        `warning: load average ${load!.toFixed(1)} on ${os.cpus().length} cores before the run: other work shares the machine`,
      );
    // The campaign starts with the warm-up (its actions assigned through the API while the
    // fleet polls): its devices pick their action up at their next poll, in the warm-up or the
    // measured window, download the payload and report.
    const campaign: number[] = [];
    if (stride > 0) for (let i = 0; i < options.devices; i += stride) campaign.push(i);
    const assignStarted = performance.now();
    const assigned = (async () => {
      await sleepUntil(startAt);
      for (let i = 0; i < campaign.length; i += 8)
        await Promise.all(
          campaign.slice(i, i + 8).map((d) =>
            api(baseUrl, admin, 'POST', '/api/v1/actions', {
              deviceId: `dev_fl_${d}`,
              releaseId: release.id,
            }),
          ),
        );
      const seconds = round((performance.now() - assignStarted) / 1000, 1);
      log(`campaign: ${campaign.length} actions assigned in ${seconds} s`);
      return seconds;
    })();
    // A failed assignment is reported (in the JSON), not fatal: the fleet's numbers still count.
    const assignment = assigned.then(
      (seconds) => ({ seconds, error: null as string | null }),
      (error: Error) => ({ seconds: null, error: error.message.slice(0, 300) }),
    );

    // 5. Warm-up over: the measured window opens.
    const measureFrom = startAt + options.warmupS * 1000;
    await sleepUntil(measureFrom - 1_000);
    const sizeStart = await databaseBytes(env, schema);
    const sqliteMainStart =
      options.dialect === 'sqlite' ? await sqliteFileBytes(env.UPDRAFT_DATABASE_SQLITE_FILE!) : 0;
    await sleepUntil(measureFrom);
    // The pool is warm by now: its backends are the ones that serve the window.
    const pgPids = options.dialect === 'postgres' ? await postgresPids(schema) : [];
    const cpuStart = {
      servers: await Promise.all(serverPids.map(cpuSecondsOf)),
      generators: await cpuOfAll(generatorPids),
      postgres: await cpuByPid(pgPids),
      haproxy: lb ? await cpuSecondsOf(lb.pid) : 0,
      machine: await machineBusySeconds(),
      loadAverage: os.loadavg()[0]!,
    };
    const memStart = await Promise.all(serverPids.map(memoryOf));
    const serverUrls = servers.map((server) => server.url);
    const scrapeStart = await scrape(serverUrls, admin);
    const postgresSampler =
      options.dialect === 'postgres'
        ? samplePostgres(schema, measureFrom, options.seconds)
        : undefined;
    // 6. Window closed: CPU, memory, database size.
    const measureTo = measureFrom + options.seconds * 1000;
    await sleepUntil(measureTo);
    await postgresSampler?.stop();
    const cpuEnd = {
      servers: await Promise.all(serverPids.map(cpuSecondsOf)),
      generators: await cpuOfAll(generatorPids),
      // Again by name: a backend the pool opened in the window counts too.
      postgres: await cpuByPid(
        options.dialect === 'postgres'
          ? [...new Set([...pgPids, ...(await postgresPids(schema))])]
          : [],
      ),
      haproxy: lb ? await cpuSecondsOf(lb.pid) : 0,
      machine: await machineBusySeconds(),
      loadAverage: os.loadavg()[0]!,
    };
    const memEnd = await Promise.all(serverPids.map(memoryOf));
    const scrapeEnd = await scrape(serverUrls, admin);
    const sizeEnd = await databaseBytes(env, schema);
    const sqliteMainEnd =
      options.dialect === 'sqlite' ? await sqliteFileBytes(env.UPDRAFT_DATABASE_SQLITE_FILE!) : 0;
    const results = await Promise.all(running.map((r) => r.done));
    const { seconds: assignSeconds, error: assignError } = await assignment;

    // 7. Merge.
    const polls = results.reduce((n, r) => n + r.polls, 0);
    const pollHistogram = results.reduce((h, r) => merge(h, r.pollHistogram), newHistogram());
    const campaignHistogram = results.reduce(
      (h, r) => merge(h, r.campaignHistogram),
      newHistogram(),
    );
    const errors = {
      status: results.reduce((n, r) => n + r.errors.status, 0),
      shed: results.reduce((n, r) => n + r.errors.shed, 0),
      timeout: results.reduce((n, r) => n + r.errors.timeout, 0),
      connection: results.reduce((n, r) => n + r.errors.connection, 0),
    };
    // A shed poll is an error too: the device did not get its answer in this interval.
    const errorCount = errors.status + errors.shed + errors.timeout + errors.connection;
    const serverCpu = cpuEnd.servers.map((c, i) => round(c - cpuStart.servers[i]!));
    const serverCpuTotal = serverCpu.reduce((a, b) => a + b, 0);
    const rssMiB = round(
      memEnd.reduce((a, m) => a + m.rssMiB, 0),
      1,
    );
    const per10k = 10_000 / options.devices;
    const growthPerDay = ((sizeEnd - sizeStart) / options.seconds) * 86_400;
    const pollsPerSec = round(polls / options.seconds, 1);
    const out = {
      benchmark: 'fleet-load',
      at: new Date().toISOString(),
      machine: {
        cpus: os.cpus().length,
        model: os.cpus()[0]?.model,
        memGiB: round(os.totalmem() / 2 ** 30, 1),
        kernel: os.release(),
      },
      node: process.version,
      options,
      seedSeconds,
      expectedPollsPerSec: round(options.devices / options.intervalS, 1),
      pollsPerSec,
      polls,
      pollsStarted: results.reduce((n, r) => n + r.pollsStarted, 0),
      notModified: results.reduce((n, r) => n + r.notModified, 0),
      p50Ms: percentileMs(pollHistogram, 50),
      p90Ms: percentileMs(pollHistogram, 90),
      p99Ms: percentileMs(pollHistogram, 99),
      p999Ms: percentileMs(pollHistogram, 99.9),
      maxMs: percentileMs(pollHistogram, 100),
      errors: errorCount,
      errorKinds: errors,
      // Time inside the servers (their own histograms), apart from any queue in the clients.
      serverRoutes: routeWindow(scrapeStart.routes, scrapeEnd.routes),
      serverGcInWindow: gcWindow(scrapeStart, scrapeEnd),
      serverEventLoopLagInWindowMs: {
        p99: round(scrapeEnd.loopLagP99Ms, 1),
        max: round(scrapeEnd.loopLagMaxMs, 1),
      },
      // Per second of the window: polls issued, those answered after more than 100 ms, the
      // slowest (all generators), beside what PostgreSQL was doing then.
      timeline: Array.from({ length: options.seconds }, (_, i) => {
        const seconds = results.map((r) => r.timeline[i]!);
        return {
          second: i,
          polls: seconds.reduce((n, t) => n + t.polls, 0),
          over100ms: seconds.reduce((n, t) => n + t.over100ms, 0),
          maxMs: Math.max(...seconds.map((t) => t.maxMs)),
          ...(postgresSampler ? { postgres: postgresSampler.timeline[i] } : {}),
        };
      }),
      errorSamples: results.flatMap((r) => r.errorSamples).slice(0, 10),
      warmupErrors: results.reduce((n, r) => n + r.warmupErrors, 0),
      lateStarts: results.reduce((n, r) => n + r.lateStarts, 0),
      campaign: {
        devices: campaign.length,
        assignSeconds,
        assignError,
        requests: count(campaignHistogram),
        p50Ms: percentileMs(campaignHistogram, 50),
        p99Ms: percentileMs(campaignHistogram, 99),
        downloads: results.reduce((n, r) => n + r.downloads, 0),
        downloadBytes: results.reduce((n, r) => n + r.downloadBytes, 0),
        devicesDone: results.reduce((n, r) => n + r.campaignDevicesDone, 0),
      },
      servers: {
        cpuSeconds: serverCpu,
        cpuUtilisation: round(serverCpuTotal / options.seconds),
        cpuSecondsPerSecondPer10kDevices: round((serverCpuTotal / options.seconds) * per10k, 4),
        cpuMicrosPerPoll: round((serverCpuTotal * 1e6) / Math.max(1, polls), 1),
        rssMiBAtStart: memStart.map((m) => m.rssMiB),
        rssMiB: memEnd.map((m) => m.rssMiB),
        peakRssMiB: memEnd.map((m) => m.peakRssMiB),
        rssMiBPer10kDevices: round(rssMiB * per10k, 1),
      },
      generators: {
        count: k,
        // Each reports its own CPU time over the window (process.cpuUsage).
        cpuUtilisation: round(results.reduce((n, r) => n + r.cpuSeconds, 0) / options.seconds),
        cpuSecondsPerProcess: results.map((r) => round(r.cpuSeconds)),
      },
      // The machine is shared: busy cores over the window, all processes (2.0 = both cores busy),
      // and the 1-minute load average at its start and end. Other work on the machine shows here.
      machineBusyCores: round((cpuEnd.machine - cpuStart.machine) / options.seconds),
      loadAverage: [round(cpuStart.loadAverage), round(cpuEnd.loadAverage)],
      // PostgreSQL's backends serving these servers (application_name), on the same 2 cores.
      postgresCpuUtilisation: round(cpuDelta(cpuStart.postgres, cpuEnd.postgres) / options.seconds),
      postgresBackends: pgPids.length,
      haproxyCpuUtilisation: round((cpuEnd.haproxy - cpuStart.haproxy) / options.seconds),
      database: {
        bytesAtStart: sizeStart,
        bytesAtEnd: sizeEnd,
        growthBytesPerDay: Math.round(growthPerDay),
        growthMiBPerDayPer10kDevices: round((growthPerDay / 2 ** 20) * per10k, 1),
        ...(options.dialect === 'sqlite'
          ? {
              // The database file alone (the WAL is checkpointed into it and then reused).
              mainFileBytesAtStart: sqliteMainStart,
              mainFileBytesAtEnd: sqliteMainEnd,
              mainFileGrowthMiBPerDay: round(
                ((sqliteMainEnd - sqliteMainStart) / options.seconds) * (86_400 / 2 ** 20),
                1,
              ),
            }
          : {}),
        note:
          options.dialect === 'sqlite'
            ? 'file + WAL; the WAL is reused after checkpoints, so growth is an upper bound'
            : 'pg_total_relation_size of the schema (tables, indexes, TOAST); dead tuples of last-seen updates until autovacuum',
      },
    };
    const file = path.join(
      root,
      `bench/results/fleet-load-${options.dialect}-${options.replicas}r-${options.devices}${options.replicaCpu > 0 ? `-cpu${options.replicaCpu}` : ''}.json`,
    );
    await writeFile(file, `${JSON.stringify(out, null, 2)}\n`);
    console.log(
      `fleet-load dialect=${options.dialect} replicas=${options.replicas} devices=${options.devices} intervalS=${options.intervalS} pollsPerSec=${pollsPerSec} p50Ms=${out.p50Ms} p99Ms=${out.p99Ms} errors=${errorCount} rssMiB=${rssMiB}`,
    );
  } finally {
    for (const g of generators) if (g.exitCode === null) g.kill('SIGKILL');
    await lb?.stop();
    await Promise.all(servers.map((s) => s.stop()));
    for (const remove of uncap) await remove();
    if (options.dialect === 'postgres') {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => client.end());
    }
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
