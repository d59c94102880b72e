// Idle device check-in (10,000 devices, 64 keep-alive connections, autocannon) vs a bare Fastify route returning the same bytes, on SQLite and PostgreSQL
//
// Run: npm run bench:checkin -- [--seconds 10] [--rounds 3] [--warmup 4] [--dialects sqlite,postgres] [--devices 10000] [--profile]
// The servers run in this process; autocannon drives them from a child process (so the load
// generator does not share the server's event loop). After a warm-up pass (JIT; each device's
// first poll fills its cached session, recorded as `updraftCold`), rounds alternate baseline and
// Updraft; the medians and their ratio (target ≥ 0.5) go to bench/results/checkin.json, with the
// server's CPU time per request (process.cpuUsage; steadier than req/s on a shared machine).
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import pg from 'pg';
import { buildServer, loadConfig, type UpdraftApp } from '../packages/server/src/index.ts';
import { arg } from './args.ts';

const self = fileURLToPath(import.meta.url);
const PG_URL = process.env.UPDRAFT_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TENANT = 'ten_default';
const BODY = JSON.stringify({
  components: [{ id: '814100', version: '1.2.0', sequenceNumber: 12 }],
  attributes: { hwRevision: 'B' },
});

interface DriveResult {
  rps: number;
  p50: number;
  p99: number;
  total: number;
  notModified: number;
  errors: number;
}

// --- child: the load generator -------------------------------------------------------------
async function drive(url: string, file: string, seconds: number): Promise<void> {
  const { default: autocannon } = (await import('autocannon')) as {
    default: (o: unknown) => Promise<Record<string, never>>;
  };
  const devices = JSON.parse(await readFile(file, 'utf8')) as { token: string; etag: string }[];
  let next = 0;
  const result = (await autocannon({
    url,
    connections: 64,
    pipelining: 1,
    duration: seconds,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: BODY,
    requests: [
      {
        // Each request is a different idle device polling with the ETag of its last answer.
        setupRequest: (req: { headers: Record<string, string> }) => {
          const d = devices[next++ % devices.length]!;
          req.headers = {
            ...req.headers,
            authorization: `Bearer ${d.token}`,
            'if-none-match': d.etag,
          };
          return req;
        },
      },
    ],
  })) as unknown as {
    requests: { average: number };
    latency: { p50: number; p99: number };
    statusCodeStats: Record<string, { count: number }>;
    errors: number;
    timeouts: number;
  };
  const total = Object.values(result.statusCodeStats).reduce((n, s) => n + s.count, 0);
  const out: DriveResult = {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    total,
    notModified: result.statusCodeStats['304']?.count ?? 0,
    errors: result.errors + result.timeouts,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

function runDriver(url: string, file: string, seconds: number): Promise<DriveResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', self, '--drive', url, file, String(seconds)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`driver exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop()!) as DriveResult);
    });
  });
}

// --- parent: servers, seeding, rounds -------------------------------------------------------
async function seed(app: UpdraftApp, count: number): Promise<{ token: string; etag: string }[]> {
  const db = app.updraft.db;
  const at = new Date().toISOString();
  const classId = 'cls_bench';
  await db
    .insertInto('device_classes')
    .values({
      id: classId,
      tenant_id: TENANT,
      name: 'bench',
      vendor_name: null,
      model_name: null,
      vendor_id: '00000000-0000-5000-8000-000000000001',
      class_id: '00000000-0000-5000-8000-000000000002',
      created_at: at,
    })
    .execute();
  const devices: { id: string; token: string }[] = [];
  for (let i = 0; i < count; i++)
    devices.push({
      id: `dev_bench_${i}`,
      token: `updraft_device_${randomBytes(32).toString('base64url')}`,
    });
  for (let i = 0; i < devices.length; i += 500) {
    const batch = devices.slice(i, i + 500);
    await db
      .insertInto('devices')
      .values(
        batch.map((d) => ({
          id: d.id,
          tenant_id: TENANT,
          name: d.id,
          device_class_id: classId,
          created_at: at,
          last_seen_at: null,
          decommissioned_at: null,
        })),
      )
      .execute();
    await db
      .insertInto('device_tokens')
      .values(
        batch.map((d) => ({
          id: `dtk_${d.id}`,
          tenant_id: TENANT,
          device_id: d.id,
          token_hash: createHash('sha256').update(d.token).digest('hex'),
          created_at: at,
          revoked_at: null,
        })),
      )
      .execute();
  }
  // Each device checks in once (its report is stored, its ETag known): afterwards it is idle.
  const primed: { token: string; etag: string }[] = [];
  for (const d of devices) {
    const res = await app.inject({
      method: 'POST',
      url: '/api/device/v1/check-in',
      headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' },
      payload: BODY,
    });
    if (res.statusCode !== 200)
      throw new Error(`priming check-in answered ${res.statusCode}: ${res.body}`);
    primed.push({ token: d.token, etag: String(res.headers.etag) });
  }
  return primed;
}

/** Starts the V8 CPU profiler on this process (the server); returns a function writing the profile. */
async function startProfile(): Promise<(file: string) => Promise<void>> {
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async (file) => {
    const { profile } = await session.post('Profiler.stop');
    await writeFile(file, JSON.stringify(profile));
    session.disconnect();
    process.stderr.write(`profile written to ${file}\n`);
  };
}

/** A driver run plus the server's CPU time per answered request (user + system, this process). */
interface Measured extends DriveResult {
  serverCpuMicrosPerRequest: number;
}

async function measured(run: () => Promise<DriveResult>): Promise<Measured> {
  const before = process.cpuUsage();
  const result = await run();
  const cpu = process.cpuUsage(before);
  return {
    ...result,
    serverCpuMicrosPerRequest: Number(
      ((cpu.user + cpu.system) / Math.max(1, result.total)).toFixed(1),
    ),
  };
}

function summary(runs: Measured[]) {
  return {
    rpsMedian: median(runs.map((b) => b.rps)),
    p50Median: median(runs.map((b) => b.p50)),
    p99Median: median(runs.map((b) => b.p99)),
    cpuMicrosPerRequestMedian: median(runs.map((b) => b.serverCpuMicrosPerRequest)),
    runs,
  };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function benchDialect(
  dialect: 'sqlite' | 'postgres',
  warmupSeconds: number,
  seconds: number,
  rounds: number,
  count: number,
) {
  const dir = await mkdtemp(join(tmpdir(), 'updraft-bench-checkin-'));
  const schema = `updraft_bench_${randomBytes(4).toString('hex')}`;
  const config = loadConfig({
    overrides: {
      dataDir: dir,
      logLevel: 'warn',
      database:
        dialect === 'sqlite'
          ? { kind: 'sqlite', sqliteFile: join(dir, 'updraft.db') }
          : { kind: 'postgres', url: PG_URL, schema, poolMax: Number(arg('pool-max', '16')) },
      auth: { adminPassword: 'bench-admin-password-0123' },
      // Per-device limits stay on (production default); 10,000 devices keep each far below it.
    },
  });
  const app = await buildServer(config, { print: () => undefined });
  const bare = Fastify({ logger: false });
  try {
    process.stderr.write(`[${dialect}] seeding ${count} devices…\n`);
    const devices = await seed(app, count);
    const etag = devices[0]!.etag;
    bare.post('/api/device/v1/check-in', async (_request, reply) =>
      reply.code(304).header('etag', etag).header('cache-control', 'no-cache').send(),
    );
    const updraftUrl = `${await app.listen({ port: 0, host: '127.0.0.1' })}/api/device/v1/check-in`;
    const bareUrl = `${await bare.listen({ port: 0, host: '127.0.0.1' })}/api/device/v1/check-in`;
    const file = join(dir, 'devices.json');
    await writeFile(file, JSON.stringify(devices));
    const since = new Date().toISOString();
    // Warm-up, not counted: JIT for both servers, and every device's first poll since priming
    // (its session is not cached yet, so this pass reads the database); reported as `cold`.
    await runDriver(bareUrl, file, warmupSeconds);
    const cold = await measured(() => runDriver(updraftUrl, file, warmupSeconds));
    const base: Measured[] = [];
    const ours: Measured[] = [];
    for (let r = 0; r < rounds; r++) {
      base.push(await measured(() => runDriver(bareUrl, file, seconds)));
      const stopProfile = process.argv.includes('--profile') ? await startProfile() : undefined;
      ours.push(await measured(() => runDriver(updraftUrl, file, seconds)));
      await stopProfile?.(join(tmpdir(), `checkin-${dialect}-${r}.cpuprofile`));
      process.stderr.write(
        `[${dialect}] round ${r + 1}: bare ${base.at(-1)!.rps.toFixed(0)} req/s (${base.at(-1)!.serverCpuMicrosPerRequest} µs CPU/req), updraft ${ours.at(-1)!.rps.toFixed(0)} req/s (${ours.at(-1)!.serverCpuMicrosPerRequest} µs CPU/req)\n`,
      );
    }
    for (const o of [...ours, cold]) {
      if (o.notModified !== o.total || o.errors > 0)
        throw new Error(`updraft answered something else than 304: ${JSON.stringify(o)}`);
    }
    const result = {
      dialect,
      devices: count,
      connections: 64,
      secondsPerRun: seconds,
      rounds,
      warmupSeconds,
      bare: summary(base),
      updraft: summary(ours),
      // The warm-up pass: each device's first poll reads the database (no cached session yet).
      updraftCold: cold,
      // Rows of device_reports changed during the idle runs (must stay 0: an idle poll writes nothing).
      reportWritesDuringRuns: await reportWritesSince(app, since),
      ratio: 0,
      target: 0.5,
      pass: false,
    };
    result.ratio = result.updraft.rpsMedian / result.bare.rpsMedian;
    result.pass = result.ratio >= result.target;
    return result;
  } finally {
    await bare.close();
    await app.close();
    if (dialect === 'postgres') {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => client.end());
    }
    await rm(dir, { recursive: true, force: true });
  }
}

/** device_reports rows written after `since` (an idle poll must write none). */
async function reportWritesSince(app: UpdraftApp, since: string): Promise<number> {
  const row = await app.updraft.db
    .selectFrom('device_reports')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('updated_at', '>', since)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

async function main(): Promise<void> {
  if (process.argv[2] === '--drive')
    return drive(process.argv[3]!, process.argv[4]!, Number(process.argv[5]));
  const seconds = Number(arg('seconds', '10'));
  const rounds = Number(arg('rounds', '3'));
  const count = Number(arg('devices', '10000'));
  const dialects = arg('dialects', 'sqlite,postgres').split(',') as ('sqlite' | 'postgres')[];
  const results = [];
  const warmup = Number(arg('warmup', '4'));
  for (const d of dialects) results.push(await benchDialect(d, warmup, seconds, rounds, count));
  const out = {
    benchmark: 'checkin',
    at: new Date().toISOString(),
    node: process.version,
    results,
  };
  await writeFile(
    new URL('./results/checkin.json', import.meta.url),
    `${JSON.stringify(out, null, 2)}\n`,
  );
  for (const r of results) {
    console.log(
      `${r.dialect}: updraft ${r.updraft.rpsMedian.toFixed(0)} req/s (p50 ${r.updraft.p50Median} ms, p99 ${r.updraft.p99Median} ms, ${r.updraft.cpuMicrosPerRequestMedian} µs CPU/req) vs bare ${r.bare.rpsMedian.toFixed(0)} req/s (p50 ${r.bare.p50Median} ms, p99 ${r.bare.p99Median} ms, ${r.bare.cpuMicrosPerRequestMedian} µs CPU/req): ratio ${r.ratio.toFixed(2)} (target ≥ ${r.target}) ${r.pass ? 'PASS' : 'FAIL'}; cold pass ${r.updraftCold.rps.toFixed(0)} req/s; idle report writes ${r.reportWritesDuringRuns}`,
    );
  }
}

await main();
