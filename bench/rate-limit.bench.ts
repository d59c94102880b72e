// Rate-limit hot path: in-memory counts vs counts shared through PostgreSQL (ns per decision), the syncs' CPU per decision, and one sync pass of every key
//
// Run: npm run bench:rate-limit -- [--ops 2000000] [--keys 10000] [--per-sync 2500] [--rounds 5]
// Both limiters decide `verified({ kind: 'device' })` for `keys` devices in turn. The shared one
// runs its sync against a real PostgreSQL schema every `per-sync` decisions (≈ one 250 ms
// interval of a replica answering 10,000 requests/s); the decisions' time excludes the syncs'
// wait (they run beside requests), whose CPU in this process is reported per decision.
// Medians of `rounds` go to bench/results/rate-limit.json.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import pg from 'pg';
import { DatabaseRateLimitStore } from '../packages/server/src/adapters/database/database-rate-limit-store.ts';
import { loadConfig } from '../packages/server/src/config/config.ts';
import { createDatabase } from '../packages/server/src/db/create-database.ts';
import { migrateToLatest } from '../packages/server/src/db/migrate.ts';
import { RATE_LIMIT_MAX_KEYS, RateLimiter } from '../packages/server/src/http/rate-limit.ts';
import { arg } from './args.ts';

const PG_URL = process.env.UPDRAFT_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const ops = Number(arg('ops', '2000000'));
const keys = Number(arg('keys', '10000'));
const perSync = Number(arg('per-sync', '2500'));
const rounds = Number(arg('rounds', '5'));
const limits = {
  ...loadConfig({ overrides: { dataDir: '/tmp' } }).rateLimit,
  enabled: true,
  perDevice: Number.MAX_SAFE_INTEGER,
};
const ids = Array.from({ length: keys }, (_, i) => `dev_bench_${i}`);
const silent = { warn: () => undefined, info: () => undefined };

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * ns of wall time per decision, the syncs' wait excluded (they run beside the requests, not in
 * their way), and the syncs' CPU time in this process per decision (building and sending the
 * upserts, reading the totals), when `sync` is given.
 */
async function run(
  limiter: RateLimiter,
  sync?: () => Promise<void>,
): Promise<{ ns: number; syncCpuNs: number }> {
  let refused = 0;
  let decisionNs = 0n;
  let syncCpuUs = 0;
  let started = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) {
    if (limiter.verified({ kind: 'device', id: ids[i % keys]! })) refused++;
    if (sync && i % perSync === perSync - 1) {
      decisionNs += process.hrtime.bigint() - started;
      const cpu = process.cpuUsage();
      await sync();
      const used = process.cpuUsage(cpu);
      syncCpuUs += used.user + used.system;
      started = process.hrtime.bigint();
    }
  }
  decisionNs += process.hrtime.bigint() - started;
  if (refused > 0) throw new Error('refused under an unlimited budget');
  return { ns: Number(decisionNs) / ops, syncCpuNs: (syncCpuUs * 1000) / ops };
}

async function main(): Promise<void> {
  const schema = `updraft_bench_rl_${randomBytes(4).toString('hex')}`;
  const handle = await createDatabase({
    kind: 'postgres',
    sqliteFile: ':memory:',
    url: PG_URL,
    schema,
    poolMax: 4,
  });
  try {
    await migrateToLatest(handle);
    const store = new DatabaseRateLimitStore(handle.db, handle.support);
    const memoryNs: number[] = [];
    const sharedNs: number[] = [];
    const syncCpuNs: number[] = [];
    const passMs: number[] = [];
    for (let r = 0; r < rounds; r++) {
      memoryNs.push((await run(new RateLimiter(limits))).ns);
      const shared = new RateLimiter(limits, Date.now, RATE_LIMIT_MAX_KEYS, {
        store,
        logger: silent,
      });
      const measured = await run(shared, () => shared.syncNow());
      sharedNs.push(measured.ns);
      syncCpuNs.push(measured.syncCpuNs);
      // One pass carrying every key (the most a window's first interval sends).
      for (const id of ids) shared.verified({ kind: 'device', id });
      const t = process.hrtime.bigint();
      await shared.syncNow();
      passMs.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (shared.syncStats.failed > 0) throw new Error('a sync failed');
      process.stderr.write(
        `round ${r + 1}: memory ${memoryNs.at(-1)!.toFixed(0)} ns, shared ${sharedNs.at(-1)!.toFixed(0)} ns per decision + ${syncCpuNs.at(-1)!.toFixed(0)} ns sync CPU; pass of ${keys} keys ${passMs.at(-1)!.toFixed(1)} ms\n`,
      );
    }
    const result = {
      benchmark: 'rate-limit',
      at: new Date().toISOString(),
      node: process.version,
      ops,
      keys,
      decisionsPerSync: perSync,
      rounds,
      memoryNsPerDecision: median(memoryNs),
      sharedNsPerDecision: median(sharedNs),
      // The syncs' CPU in this process, per decision (each sync carries `decisionsPerSync` keys).
      syncCpuNsPerDecision: median(syncCpuNs),
      // Shared / memory: the hot path's cost of sharing (the decision itself).
      ratio: median(sharedNs) / median(memoryNs),
      syncPassMsForAllKeys: median(passMs),
      runs: { memoryNs, sharedNs, syncCpuNs, passMs },
    };
    await writeFile(
      new URL('./results/rate-limit.json', import.meta.url),
      `${JSON.stringify(result, null, 2)}\n`,
    );
    console.log(
      `rate-limit memory=${result.memoryNsPerDecision.toFixed(0)}ns shared=${result.sharedNsPerDecision.toFixed(0)}ns ratio=${result.ratio.toFixed(2)} syncCpuPerDecision=${result.syncCpuNsPerDecision.toFixed(0)}ns syncPass(${keys} keys)=${result.syncPassMsForAllKeys.toFixed(1)}ms`,
    );
  } finally {
    await handle.close();
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => client.end());
  }
}

await main();
